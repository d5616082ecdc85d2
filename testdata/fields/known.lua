-- Every field of the fixed sets can be read without an error (some are nil here).
local names = {}
for _, k in ipairs({ "method", "uri", "path", "service", "content_type", "headers", "parameters",
    "payload", "content", "api_version", "remote_addr", "scheme", "host", "id" }) do
  local _ = event.request[k]
end
for _, k in ipairs({ "status_code", "content_type", "headers", "content" }) do
  local _ = event.response[k]
end
for _, k in ipairs({ "name", "params", "resource", "queue_id", "request", "response" }) do
  local _ = event[k]
end
event.response.headers["x-ok"] = "yes"
