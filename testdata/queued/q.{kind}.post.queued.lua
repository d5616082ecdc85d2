-- A queued script reads its copy of the event and records what it saw.
local id = event.request.headers["x-id"]
platform.store.set("seen:" .. id, {
  payload_id = event.request.payload.id,
  response_id = event.response.content.id,
  status = event.response.status_code,
  kind = event.params.kind,
  name = event.name,
  user = platform.session and platform.session.name or nil,
})
platform.store.incr("queued:count", 1)
