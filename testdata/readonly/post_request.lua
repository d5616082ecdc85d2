event.request.headers["x-late"] = "1"
