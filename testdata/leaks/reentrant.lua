-- The same script at two nesting levels: its platform.api call matches itself. The outer run's
-- globals must stay its own, and nothing may remain for the next request.
if event.request.headers["x-inner"] then
  inner_global = "inner"
  return
end
outer_global = "outer"
platform.api.get("re/other", nil, { headers = { ["x-inner"] = "1" } })
leak = "secret-from-A"
event.response.headers["x-outer"] = tostring(outer_global) .. "/" .. tostring(inner_global)
