-- Keeps tables of the decoded body, replaces the body with a string, then answers with what it
-- kept: the tables still read the text they came from.
local c = event.response.content
local meta = c.meta
event.response.content = "replaced"
event.response.content = {kept = meta, first = c.resource[1].name, n = meta.count}
