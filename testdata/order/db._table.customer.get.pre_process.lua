local h = event.request.headers
local prev = h["x-order"]
h["x-order"] = (prev and (prev .. ",") or "") .. "specific"
h["x-event"] = event.name
h["x-resource"] = event.resource
h["x-service"] = event.request.service
