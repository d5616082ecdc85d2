-- expect: more than the string limit
-- alloc: 16
-- A table that maps every match to a long string.
local big = ("b"):rep(1024 * 1024)
local s = ("a"):rep(1000)
s:gsub("a", { a = big })
