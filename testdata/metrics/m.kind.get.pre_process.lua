metrics.set("orders", 1, { kind = "a" })
