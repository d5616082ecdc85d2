-- Calls platform.store.<op> (the path's last segment) with a key and a value of the sizes the
-- query asks for (?key=N&value=N, in bytes; the key repeats the op's first letter; &table=1
-- stores the value in a table), and answers "ok" when the call returned.
local p = event.request.parameters
local op = event.params.op
local key = op:sub(1, 1):rep(tonumber(p.key or "1"))
local value = ("v"):rep(tonumber(p.value or "1"))
if p.table then value = { value } end
if op == "set" then
  platform.store.set(key, value, tonumber(p.ttl or "0"))
elseif op == "incr" then
  platform.store.incr(key, 1)
elseif op == "get" then
  platform.store.get(key)
elseif op == "delete" then
  platform.store.delete(key)
else
  error("no such op: " .. op)
end
return { status_code = 200, content = "ok" }
