-- expect: more than the string limit
-- alloc: 16
-- A replacement of many %0 against one long match: one append of len(match) x n bytes.
local s = ("a"):rep(1024 * 1024)
s:gsub(".+", ("%0"):rep(100))
