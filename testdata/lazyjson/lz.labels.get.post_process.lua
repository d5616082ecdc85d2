-- Labels a metric with an object of the decoded body: its members, as from any table.
metrics.incr("lazy_labels", event.response.content.resource[1].address)
