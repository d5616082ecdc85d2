metrics.incr("bad name")
