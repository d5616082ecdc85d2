-- Many items, each within the limit: the result is refused as it passes the string limit.
local t = {}
for i = 1, 20000 do t[i] = 1 end
string.format(("%99d"):rep(20000), unpack(t))
