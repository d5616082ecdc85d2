event.response.content.id = event.request.headers["x-id"]
