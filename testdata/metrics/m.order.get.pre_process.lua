metrics.incr("orders", { kind = "a" })
metrics.incr("orders", 2, { kind = "b" })
metrics.set("depth", 7)
metrics.observe("size", 12.5)
