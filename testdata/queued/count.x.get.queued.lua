platform.store.incr("count:done", 1)
