event.response.headers["x-name"] = event.params.name
event.response.headers["x-user"] = (platform.session or {}).user or "none" -- nil without a session on this branch
event.response.headers["x-region"] = (platform.config or {}).region or "none"
event.response.headers["x-now"] = os.time()
print("hello", event.params.name)
