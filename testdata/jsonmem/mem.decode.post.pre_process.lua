-- json.decode of the request body, as a string.
local v = json.decode(event.request.content)
event.request.headers["x-elements"] = tostring(#v)
