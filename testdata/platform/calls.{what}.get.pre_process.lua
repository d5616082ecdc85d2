local what = event.params.what
if what == "missing" then
  local r = platform.api.get("nothing/here")
  return { content = { status = r.status_code } }
elseif what == "post" then
  local r = platform.api.post("echo/it?q=1", { a = 1, list = { 1, 2 } }, { parameters = { p = "2" } })
  return { content = r.content }
elseif what == "rawpost" then
  local r = platform.api.put("echo/it", "raw body", { headers = { ["content-type"] = "text/plain" } })
  return { content = r.content }
elseif what == "badpath" then
  platform.api.get({})
elseif what == "badpayload" then
  platform.api.post("echo/it", function() end)
elseif what == "badoptions" then
  platform.api.get("echo/it", nil, { headers = "x" })
elseif what == "dotdot" then
  platform.api.get("../../admin/secret")
elseif what == "encdots" then
  platform.api.get("echo/%2e%2e/%2E%2e/%2e%2e/metrics")
elseif what == "nul" then
  platform.api.get("echo/it\0/x")
elseif what == "inside" then
  -- ".." that stays below the prefix is fine
  local r = platform.api.get("nothing/../echo/it")
  return { content = r.content }
elseif what == "call" then
  -- DreamFactory's generic form: platform.api.call(verb, path, payload, options).
  local r = platform.api.call("patch", "echo/it", { a = 1 }, { parameters = { p = "3" } })
  return { content = r.content }
elseif what == "badverb" then
  platform.api.call("TRACE", "echo/it")
elseif what == "returned" then
  -- DreamFactory's obfuscation example: return another endpoint's answer as this one's.
  return platform.api.get("echo/it", nil, { parameters = { from = "returned" } })
end
