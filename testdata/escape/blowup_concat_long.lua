-- expect: more than the string limit
-- alloc: 16
-- The same string many times over, with a long separator.
local s = ("y"):rep(1024 * 1024)
local t = {}
for i = 1, 1000 do t[i] = s end
table.concat(t, s)
