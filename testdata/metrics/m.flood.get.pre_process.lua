for i = 1, 100 do metrics.incr("flood", { i = i }) end
