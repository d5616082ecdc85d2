event.request.headers["x-any"] = event.params.rest
