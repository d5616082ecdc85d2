-- expect: escaped
-- gopher-lua would fill 60 million array slots in one instruction; here the key is hashed.
local t = {}
t[60000000] = true
error("escaped: no blow-up")
