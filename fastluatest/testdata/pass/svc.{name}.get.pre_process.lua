event.response.headers["x-name"] = event.params.name
event.response.headers["x-user"] = platform.session.user or "none"
event.response.headers["x-region"] = platform.config.region or "none"
event.response.headers["x-now"] = os.time()
print("hello", event.params.name)
