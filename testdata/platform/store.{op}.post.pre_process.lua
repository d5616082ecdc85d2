local op, p = event.params.op, event.request.payload
local s = platform.store
if op == "set" then
  s.set(p.key, p.value, p.ttl)
  return { content = { ok = true } }
elseif op == "get" then
  local v = s.get(p.key)
  return { content = { value = v, type = type(v) } }
elseif op == "delete" then
  s.delete(p.key)
  return { content = { ok = true } }
elseif op == "badincr" then
  s.set("text", "abc")
  s.incr("text", 1)
elseif op == "badset" then
  s.set("f", print)
end
