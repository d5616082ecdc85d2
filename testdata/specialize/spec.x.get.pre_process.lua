-- Folded chains must mean what the unfolded code meant.
local function check(name, cond) if not cond then error("case failed: " .. name) end end
local h = event.request.headers

-- Intermediate values kept in locals (not folded: they are not dead).
local e = event
local r = e.request
check("locals", r.headers == h and e.response.headers == event.response.headers)

-- A local named event shadows the global.
do
  local event = { request = { headers = { fake = "yes" } } }
  check("shadowing", event.request.headers.fake == "yes")
end
check("after the shadow", event.request.headers == h)

-- Inside a closure, a loop, and branches.
local function get(name) return event.request.headers[name] end
check("closure", get("x-in") == "1")
for i = 1, 3 do event.request.headers["x-loop"] = i end
check("loop", event.request.headers["x-loop"] == "3")
local flag = event.request.parameters["flag"]
local picked = flag and event.request.headers["x-in"] or event.response.headers["x-none"]
check("and/or", picked == "1")
if flag == nil then error("flag missing") else event.response.headers["x-branch"] = "then" end

-- pcall, coroutine, and a method call on a folded object.
local ok, v = pcall(function() return event.request.headers["x-in"] end)
check("pcall", ok and v == "1")
local co = coroutine.wrap(function() coroutine.yield(event.request.headers["x-in"]) end)
check("coroutine", co() == "1")
check("tostring", tostring(event.request.headers) == "event.request.headers")

-- The nested level has its own objects.
local nested = platform.api.get("spec/inner", nil, { headers = { ["x-in"] = "inner" } })
check("nested", nested.content.seen == "inner" and event.request.headers["x-in"] == "1")
event.response.headers["x-spec"] = "ok"
