-- DreamFactory's example-scripts v8js/usage_alert, ported to Lua: count the API calls before a
-- time (a raw space in the filter, as the example writes it) and send an email past a threshold.
local threshold = 2 -- how many api calls are allowed
local query = "timestamp%3c" .. "2026-12-02 02:25:00"

local result = platform.api.get("db/_table/TransactionHistory?filter=(" .. query .. ")")

if #result.content.resource >= threshold then
  local email = {
    to = { { name = "John Doe", email = "johndoe@example.com" } },
    subject = "Usage alert",
    body_text = "API usage has exceeded the alert threshold.",
  }
  platform.api.post("email", email)
end
return { content = { calls = #result.content.resource, status = result.status_code } }
