local h = event.request.headers
local prev = h["x-order"]
h["x-order"] = (prev and (prev .. ",") or "") .. "file:" .. event.params.name
