event.request.headers = { ["x-a"] = "1", ["x-b"] = { "ok", "x\r\ny" } }
