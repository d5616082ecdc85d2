-- Reads a compressed response body that decompresses past the limit.
local c = event.response.content
event.response.headers["x-read"] = "yes"
