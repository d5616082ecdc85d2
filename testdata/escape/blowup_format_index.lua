-- expect: invalid option '%[' to 'format'
-- alloc: 64
-- Go's argument index: one call that wrote the 4 MB string a thousand times (4 GB).
local s = ("x"):rep(1024 * 1024)
s = s .. s .. s .. s
local r = ("%[1]s"):rep(1000):format(s)
