event.response.status_code = 202
event.response.content = "accepted"
event.response.content_type = "text/plain"
