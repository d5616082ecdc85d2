-- fastlua: allow_event_modification = false
-- Reads one member of an object of 300,000: the index of its members is memory made from the
-- text, charged to the JSON memory budget as the eager decoder's table is.
local c = event.response.content
assert(c.k5 == 0)
