-- Any verb: the method placeholder binds the verb.
local h = event.request.headers
local prev = h["x-order"]
h["x-order"] = (prev and (prev .. ",") or "") .. "anyverb:" .. event.params.method
