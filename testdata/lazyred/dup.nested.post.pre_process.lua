-- fastlua: allow_event_modification = false
-- The same check one level down, by a read-only script that also touches another field.
local p = event.request.payload
if p.user.role ~= "user" then
  return {status_code = 403, content = {error = "forbidden"}}
end
local _ = p.other
