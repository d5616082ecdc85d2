-- expect: more than the string limit
local s = ("x"):rep(1e6):rep(1e6)
