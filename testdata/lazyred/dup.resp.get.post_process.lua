-- fastlua: allow_event_modification = false
-- A read-only filter of a response: a body whose role is not "user" is not shown.
local c = event.response.content
if c.role ~= "user" then
  return {status_code = 403, content = {error = "forbidden"}}
end
