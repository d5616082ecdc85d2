-- A platform.api result that decompresses past the limit.
local r = platform.api.get("z/rawbomb")
event.response.headers["x-read"] = tostring(r.status_code)
