-- platform.session and platform.config are tables even when the Go program set neither:
-- DreamFactory scripts read platform.session.user and test it for nil.
local s, c = platform.session, platform.config
local n = 0
for _ in pairs(s) do n = n + 1 end
for _ in pairs(c) do n = n + 1 end
local okS, errS = pcall(function() s.user = "mallory" end)
local okC, errC = pcall(function() c.region = "x" end)
local inner = platform.api.get("cfg/whoami")
return { content = {
  user = s.user == nil and "nil" or tostring(s.user),
  role = s.role == nil and "nil" or tostring(s.role),
  region = c.region == nil and "nil" or tostring(c.region),
  pairs = n, len = #s + #c,
  session = tostring(s), config = tostring(c),
  write_session = okS and "allowed" or tostring(errS),
  write_config = okC and "allowed" or tostring(errC),
  same = rawequal(s, platform.session),
  inner = inner.status_code,
} }
