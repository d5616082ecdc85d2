-- expect: more than the value stack holds
-- alloc: 64
-- string.byte of a whole long string would push a value per byte: refused before the first.
local s = ("x"):rep(1024 * 1024)
local n = select("#", s:byte(1, -1))
