-- API key check on every table request, whatever the verb: the keys are Go configuration
-- (platform.config.api_keys), and the owner becomes the session's user.
local key = event.request.headers["x-api-key"]
if key == nil or platform.config.api_keys[key] == nil then
  error({ status_code = 401, message = "a valid X-Api-Key header is required" })
end
