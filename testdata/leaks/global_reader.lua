event.response.headers["x-shared"] = tostring(shared)
