-- Past the lazily decoded texts a run keeps (64), a body is decoded eagerly: the same rule for
-- a key the text has twice.
for i = 1, 64 do
  event.request.content = '{"x":1}'
  assert(event.request.payload.x == 1)
end
event.request.content = event.request.parameters.body
if event.request.payload.role ~= "user" then
  return {status_code = 403, content = {error = "forbidden"}}
end
