-- DreamFactory's pre_process validation example, in Lua: refuse a record without a name
-- (the handler never sees it), stamp the ones that have one.
local payload = event.request.payload
if payload == nil or payload.name == nil then
  event.response.status_code = 400
  event.response.content = { error = "Name field is required" }
  return
end
payload.timestamp = os.date("!%Y-%m-%dT%H:%M:%SZ")
