-- After the response: count, and fetch from an outside API (stubbed by the tests).
platform.store.incr("created", 1)
local r = platform.api.get("https://api.example.com/v1/ping?x=1")
platform.store.set("ping", r.content)
local plain = platform.api.get("http://other.example.com:8080/status")
platform.store.set("other", plain.status_code)
