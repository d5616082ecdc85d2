-- expect: more than the string limit
-- alloc: 16
-- The same long string many times, each piece within the limit.
local s = ("x"):rep(512 * 1024)
string.format(("%s"):rep(100), s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s)
