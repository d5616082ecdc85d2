return { content = { seen = event.request.headers["x-in"] } }
