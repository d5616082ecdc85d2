metrics.incr("orders", { other = "x" })
