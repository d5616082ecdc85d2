-- Answers the request: the handler and the more specific pre_process script are skipped.
event.response.status_code = 418
event.response.content = { teapot = true, res = event.params.res }
event.response.headers["x-early"] = "1"
