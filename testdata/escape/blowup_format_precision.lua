-- expect: more than the string limit
-- alloc: 16
-- %.99f of 1e308 is 409 bytes: thousands of them pass the limit.
local t = {}
for i = 1, 8000 do t[i] = 1e308 end
string.format(("%.99f"):rep(8000), unpack(t))
