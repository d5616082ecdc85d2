local r = event.request
r.method = "PUT"
r.headers["x-added"] = "yes"
r.headers["x-remove"] = nil
r.parameters["added"] = "1"
r.parameters["gone"] = nil
r.payload = { replaced = true, n = 3 }
