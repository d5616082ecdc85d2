local what = event.params.what
local base = event.request.headers["x-upstream"]
if what == "ok" then
  local r = platform.api.get(base .. "/upstream?x=1", nil, { headers = { ["x-sent"] = "yes" } })
  return { content = { status = r.status_code, body = r.content, header = r.headers["x-upstream-header"] } }
elseif what == "refused" then
  platform.api.get("http://example.invalid/x")
elseif what == "slow" then
  local r = platform.api.get(base .. "/slow")
  return { content = { status = r.status_code, message = r.content.error.message } }
elseif what == "down" then
  local r = platform.api.get("http://127.0.0.1:1/nothing")
  return { content = { status = r.status_code } }
end
