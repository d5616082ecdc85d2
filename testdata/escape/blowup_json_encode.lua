-- expect: Config.MaxJSONSize
local s = ("x"):rep(1e6)
local t = {}
for i = 1, 100 do t[i] = s end
json.encode(t)
