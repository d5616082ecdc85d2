-- A rate limit on platform.store: three requests per key per minute.
local key = "rl:" .. (event.request.headers["x-api-key"] or "anonymous")
local n = platform.store.incr(key, 1, 60)
if n > 3 then
  error({ status_code = 429, message = "Too Many Requests" })
end
event.response.headers["x-count"] = n
