-- expect: more than the string limit
-- alloc: 16
-- s = s .. s in a loop: each step doubles the string; the concatenation that would pass the
-- string limit fails before it allocates.
local s = ("x"):rep(1e5)
while true do s = s .. s end
