-- expect: exceeded its time limit | stopped
-- A table grown step by step: the time limit or the memory guard stops it.
local t = {}
local i = 0
while true do i = i + 1; t[i] = { i, tostring(i) } end
