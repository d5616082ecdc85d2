-- Calls itself one level deep through platform.api: with a pool of one state, the nested call
-- must run on the caller's state instead of waiting for the pool.
if event.params.x == "outer" then
  local r = platform.api.get("selfcall/inner?from=outer", nil, { headers = { ["x-extra"] = "1" } })
  return { status_code = 200, content = { status = r.status_code, inner = r.content, ct = r.content_type } }
end
event.response.content = {
  inner_ran = true,
  from = event.request.parameters.from,
  extra = event.request.headers["x-extra"],
  key = event.request.headers["x-api-key"],
  depth_name = event.name,
}
