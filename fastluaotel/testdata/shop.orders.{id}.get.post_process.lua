event.response.headers["x-post"] = "done"
