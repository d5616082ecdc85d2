-- Reads a compressed request body that decompresses past the limit.
local p = event.request.payload
event.request.headers["x-read"] = "yes"
