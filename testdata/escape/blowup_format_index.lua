-- expect: invalid option '%[' to 'format'
-- alloc: 64
-- Go's argument index: one call that wrote a 1 MB string a thousand times (1 GB).
local s = ("x"):rep(1024 * 1024)
local r = ("%[1]s"):rep(1000):format(s)
