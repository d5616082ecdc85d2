event.request.content = "plain text"
