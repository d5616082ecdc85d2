-- Counts, sets and observes, the three kinds a script metric can be.
metrics.incr("order_reads", 1, { kind = "web" })
metrics.set("last_order", tonumber(event.params.id))
metrics.observe("order_id_size", #event.params.id)
