-- expect: more than the string limit
-- alloc: 16
-- `..` is one VM instruction however many operands it has: from a string at the cap, each line
-- makes one ten times longer (10 MiB, 100 MiB, 1 GiB, 10 GiB with the test's 1 MiB cap).
local s = ("x"):rep(1024 * 1024)
local t = s .. s .. s .. s .. s .. s .. s .. s .. s .. s
local u = t .. t .. t .. t .. t .. t .. t .. t .. t .. t
local v = u .. u .. u .. u .. u .. u .. u .. u .. u .. u
local w = v .. v .. v .. v .. v .. v .. v .. v .. v .. v
return #w
