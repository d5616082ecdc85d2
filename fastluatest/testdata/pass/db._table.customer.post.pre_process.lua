local payload = event.request.payload
if type(payload) ~= "table" then
  error({ status_code = 400, message = "the body must be JSON" })
end
if payload.name == nil then
  error({ status_code = 400, message = "Name field is required" })
end
payload.created_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
log.info("validated", { name = payload.name })
