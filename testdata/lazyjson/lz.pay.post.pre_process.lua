-- Changes one field of the request payload: the handler gets the client's text with it spliced in.
local p = event.request.payload
p.meta.count = p.meta.count + 5
p.resource[1].email = nil
