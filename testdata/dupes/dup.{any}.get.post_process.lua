event.response.headers["X-Out"] = "one"
event.response.headers["Set-Cookie"] = "a=1"
event.response.headers["x-gone"] = nil
