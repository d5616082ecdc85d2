local h = event.request.headers
local prev = h["x-order"]
h["x-order"] = (prev and (prev .. ",") or "") .. "svc+table:" .. event.params.service .. "/" .. event.params.table_name
