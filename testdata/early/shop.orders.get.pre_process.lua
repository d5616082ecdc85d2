event.response.headers["x-second"] = "ran"
