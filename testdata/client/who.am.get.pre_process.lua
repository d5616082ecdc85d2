local r = event.request
return { remote_addr = r.remote_addr, scheme = r.scheme, host = r.host }
