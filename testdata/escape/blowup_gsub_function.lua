-- expect: more than the string limit
-- alloc: 16
-- A callback that returns the same long string for every match.
local big = ("b"):rep(1024 * 1024)
local s = ("a"):rep(1000)
s:gsub("a", function() return big end)
