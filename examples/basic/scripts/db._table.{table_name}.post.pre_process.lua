-- Validation, as in DreamFactory's docs: a record needs a name; accepted ones get a timestamp.
local payload = event.request.payload
if payload == nil or payload.name == nil then
  error({ status_code = 400, message = "Name field is required" })
end
payload.created_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
