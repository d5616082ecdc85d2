-- Reads a large array response; with ?change=i, changes its element i in place.
local c = event.response.content
local n = tonumber(event.request.parameters.n)
event.response.headers["x-last"] = tostring(c[n])
local i = tonumber(event.request.parameters.change)
if i then c[i] = "changed" end
