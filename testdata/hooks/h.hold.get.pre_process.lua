-- Holds its Lua state while the handler behind this in-process call waits (the test releases it).
local r = platform.api.get("inner/hold")
event.response.headers["x-held"] = tostring(r.status_code)
