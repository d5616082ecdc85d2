-- expect: more than the string limit
local s = ("a"):rep(1e6)
s:gsub("", ("b"):rep(100))
