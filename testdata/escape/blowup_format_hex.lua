-- expect: number expected, got string
-- alloc: 16
-- Go's "% X" wrote each byte of a string as three: numbers only here.
local s = ("x"):rep(1024 * 1024)
string.format("% X", s)
