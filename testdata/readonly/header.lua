event.request.headers["x-a"] = "1"
