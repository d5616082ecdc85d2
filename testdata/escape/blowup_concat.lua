-- expect: more than the string limit
local t = {}
for i = 1, 300 do t[i] = ("y"):rep(10000) end
local s = table.concat(t, ("z"):rep(10000))
