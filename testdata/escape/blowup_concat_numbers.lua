-- expect: more than the string limit
-- alloc: 16
-- Numbers are written as text: 1e5 of them at 24 bytes each.
local t = {}
for i = 1, 100000 do t[i] = -1.2345678901234567e-300 end
table.concat(t, ",")
