-- An authorization check on a payload: only "user" may pass. Whatever role it read is the
-- role the handler must get, however many copies of the key the client sent.
local p = event.request.payload
if p.role ~= "user" then
  return {status_code = 403, content = {error = "forbidden"}}
end
