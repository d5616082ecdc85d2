-- A rate limit that has run out: the headers it sets must reach the client with the 429.
event.response.headers["x-ratelimit-limit"] = "60"
event.response.headers["x-ratelimit-remaining"] = "0"
error({ status_code = 429, message = "Too Many Requests" })
