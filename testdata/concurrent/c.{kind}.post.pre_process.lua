local p = event.request.payload
p.echo = event.request.headers["x-id"]
p.kind = event.params.kind
