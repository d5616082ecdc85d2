event.response.headers["x-fine"] = "yes"
