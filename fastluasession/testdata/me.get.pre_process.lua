-- Answers with who platform.session says the caller is, as DreamFactory's scripts read it.
local session = platform.session
local user = session.user
if user == nil then
  return { status_code = 401, content = { error = "no user", api_key = session.api_key or json.null } }
end
local role = session.role
return {
  id = user.id,
  email = user.email,
  admin = user.is_sys_admin or false,
  role = role and role.name or json.null,
  api_key = session.api_key or json.null,
}
