local s = ("x"):rep(100000)
local t = {}
for i = 1, 100 do t[i] = s end
json.encode(t)
