-- Validation, as in DreamFactory's documentation: every new customer needs a name.
-- Records come one at a time or in DreamFactory's {"resource": [...]} envelope.
local payload = event.request.payload
if type(payload) ~= "table" then
  error({ status_code = 400, message = "the body must be a JSON record or {\"resource\": [records]}" })
end
local records = payload.resource or { payload }
for i, record in ipairs(records) do
  if record.name == nil or record.name == "" then
    error({ status_code = 400, message = "Name field is required (record " .. i .. ")" })
  end
  record.created_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
end
