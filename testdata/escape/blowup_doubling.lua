-- expect: exceeded its time limit | stopped
-- s = s .. s in a loop: the one allocation no builtin cap can see; the time limit or the memory
-- guard stops it.
local s = ("x"):rep(1e6)
while true do s = s .. s end
