event.response.headers["x-post"] = "1"
