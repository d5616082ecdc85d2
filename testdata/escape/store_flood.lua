-- expect: the store is full | exceeded its time limit | stopped
-- Fill the shared store: bounded by the store's size and by the time limit.
local i = 0
while true do i = i + 1; platform.store.set("flood:" .. i, ("v"):rep(1000)) end
