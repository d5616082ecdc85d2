event.request.headers["x-multi"] = { "a", "b" }
local n = 0
for k, v in pairs(event.request.headers) do n = n + 1 end
event.request.headers["x-count"] = n
