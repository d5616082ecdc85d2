local c = event.response.content
c.post_id = event.request.headers["x-id"]
