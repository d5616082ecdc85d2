log.info("seen", { n = 1 })
event.response.headers["x-seen-id"] = event.request.id
