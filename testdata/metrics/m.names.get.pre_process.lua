for i = 1, 100 do metrics.incr("n" .. i) end
