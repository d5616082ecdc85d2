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
check("tostring", tostring(event.request.headers):sub(1, 22) == "event.request.headers ")

-- The nested level has its own objects.
local nested = platform.api.get("spec/inner", nil, { headers = { ["x-in"] = "inner" } })
check("nested", nested.content.seen == "inner" and event.request.headers["x-in"] == "1")
-- Reads and writes of a constant key become calls of bound Go functions: around them, every
-- local keeps its value.
do
  local a, b, c = 1, 2, 3
  b = event.request.headers["x-in"]
  check("assign to a local", a == 1 and b == "1" and c == 3)
  local hh = event.request.headers
  local v = hh["x-in"]
  check("the chain's local stays", v == "1" and hh == h and tostring(hh):sub(1, 22) == "event.request.headers ")
  hh["x-kept"] = "k"
  check("written through a kept local", hh == h and h["x-kept"] == "k")
  local t = { event.request.headers["x-in"], event.request.headers["x-none"], 5 }
  check("table constructor", t[1] == "1" and t[2] == nil and t[3] == 5)
  check("call argument", select("#", event.request.headers["x-in"], 2) == 2)
  check("concatenation", "<" .. event.request.headers["x-in"] .. ">" == "<1>")
  event.request.headers["x-from-local"] = c
  event.request.headers["x-const"] = "lit"
  event.request.headers["x-number"] = 42
  check("writes", h["x-from-local"] == "3" and h["x-const"] == "lit" and h["x-number"] == "42" and c == 3)
  event.request.headers["x-const"] = nil
  check("delete", h["x-const"] == nil)
  local ok, err = pcall(function() event.request.headers["bad name"] = "x" end)
  check("a refused write raises", not ok and tostring(err):find("not a valid header name", 1, true) ~= nil)
  check("method call on the value", event.request.headers["x-in"]:rep(2) == "11")
  check("length", #event.request.headers["x-in"] == 1)
  check("two in one call", string.format("%s-%s", event.request.headers["x-in"], event.request.headers["x-in"]) == "1-1")
  local p1, p2, p3 = event.request.headers["x-in"], event.request.headers["x-none"], c
  check("multiple assignment", p1 == "1" and p2 == nil and p3 == 3)
  local function va(...)
    local x = event.request.headers["x-in"]
    event.response.headers["x-va"] = x
    return select("#", ...), ...
  end
  local n, first, second = va(7, 8)
  check("vararg function", n == 2 and first == 7 and second == 8)
  local sum = 0
  for i = 1, 3 do
    local got = event.request.headers["x-in"]
    event.request.headers["x-i"] = i
    sum = sum + i + got
  end
  check("loop body", sum == 9 and h["x-i"] == "3")
  event.request.parameters["added"] = "p"
  check("parameters", event.request.parameters["added"] == "p" and event.request.parameters["flag"] == "1")
end
event.response.headers["x-spec"] = "ok"
