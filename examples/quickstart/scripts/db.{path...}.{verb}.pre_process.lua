-- A rate limit per API key on the whole db service, on platform.store: a fixed window of one
-- minute, platform.config.rate_limit requests in it.
local key = event.request.headers["x-api-key"] or "anonymous"
local limit = platform.config.rate_limit
local used = platform.store.incr("rate:" .. key, 1, 60)
event.response.headers["x-ratelimit-limit"] = limit
event.response.headers["x-ratelimit-remaining"] = math.max(0, limit - used)
if used > limit then
  error({ status_code = 429, message = "Too Many Requests: " .. limit .. " per minute" })
end
