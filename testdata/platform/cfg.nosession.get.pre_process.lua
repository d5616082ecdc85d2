-- DreamFactory always passes a session: scripts read platform.session.user without a guard.
local s = platform.session
local n = 0
for _ in pairs(s) do n = n + 1 end
local ok, err = pcall(function() s.user = "root" end)
return { content = {
  kind = type(s), user = tostring(s.user), key = tostring(s.api_key), n = n,
  write = ok and "allowed" or tostring(err),
} }
