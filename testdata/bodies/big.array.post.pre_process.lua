-- Reads a large array payload; with ?change=i, changes its element i in place.
local p = event.request.payload
local n = tonumber(event.request.parameters.n)
event.request.headers["x-last"] = tostring(p[n])
local i = tonumber(event.request.parameters.change)
if i then p[i] = "changed" end
