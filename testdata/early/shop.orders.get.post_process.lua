-- post_process still runs on the early answer.
event.response.headers["x-post"] = tostring(event.response.status_code)
event.response.content.post = "seen"
