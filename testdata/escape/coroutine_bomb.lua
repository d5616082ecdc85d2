-- expect: at most 64 coroutines
local cos = {}
for i = 1, 100000 do cos[i] = coroutine.create(function() coroutine.yield() end) end
