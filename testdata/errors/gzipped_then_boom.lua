-- Sets a header that describes a body, then fails: the error body is plain JSON.
event.response.headers["content-encoding"] = "gzip"
event.response.headers["x-before-failure"] = "kept"
error("boom")
