-- expect: all refused: attempt to yield across
-- Yields across every kind of Go boundary inside a coroutine; each must be refused with a clear
-- error, while yields from the coroutine's own code (and from Lua functions it calls) still work.
local function gen()
  local function inner(i) coroutine.yield(i) end
  for i = 1, 3 do inner(i) end
  local nested = coroutine.wrap(function() coroutine.yield("n") end)
  coroutine.yield(nested())
end
local got = {}
for v in coroutine.wrap(gen) do got[#got + 1] = tostring(v) end
if table.concat(got, ",") ~= "1,2,3,n" then error("plain yields broke: " .. table.concat(got, ",")) end
-- A yield as a tail call, directly and through __call (gopher-lua loses the caller's frame
-- when it tail-calls a Go function that yields).
local co = coroutine.create(function(a) return coroutine.yield(a + 1) end)
local ok1, v1 = coroutine.resume(co, 1)
local ok2, v2 = coroutine.resume(co, "back")
local callable = setmetatable({}, { __call = function(_, x) return coroutine.yield(x) end })
local co2 = coroutine.create(function() return callable(7) end)
local ok3, v3 = coroutine.resume(co2)
local ok4, v4 = coroutine.resume(co2, "again")
local tail = table.concat({ tostring(ok1), tostring(v1), tostring(ok2), tostring(v2), tostring(ok3), tostring(v3), tostring(ok4), tostring(v4) }, ",")
if tail ~= "true,2,true,back,true,7,true,again" then error("tail-called yields broke: " .. tail) end

local mt = {
  __index = function() return coroutine.yield("index") end,
  __newindex = function() coroutine.yield("newindex") end,
  __lt = function() return coroutine.yield("lt") end,
  __le = function() return coroutine.yield("le") end,
  __eq = function() return coroutine.yield("eq") end,
  __concat = function() return coroutine.yield("concat") end,
  __add = function() return coroutine.yield("add") end,
  __unm = function() return coroutine.yield("unm") end,
  __len = function() return coroutine.yield("len") end,
  __call = function() return coroutine.yield("call") end,
  __tostring = function() return coroutine.yield("tostring") end,
}
local a, b = setmetatable({}, mt), setmetatable({}, mt)
local cases = {
  function() return a.x end,
  function() a.x = 1 end,
  function() return a < b end,
  function() return a <= b end,
  function() return a == b end,
  function() return a .. "s" end,
  function() return a + 1 end,
  function() return -a end,
  function() return tostring(a) end,
  function() local _, e = pcall(coroutine.yield, "pcall") error(e, 0) end,
  function() local _, e = xpcall(function() coroutine.yield("xpcall") end, function(m) return m end) error(e, 0) end,
  function() table.sort({ 3, 2, 1 }, function(x, y) coroutine.yield("sort") return x < y end) end,
  function() return string.gsub("abc", "%w", function(c) coroutine.yield(c) end) end,
  function() for _ in pairs(setmetatable({}, { __pairs = function() coroutine.yield("pairs") end })) do end end,
}
for i, f in ipairs(cases) do
  local co = coroutine.create(f)
  local ok, err = coroutine.resume(co)
  if ok and coroutine.status(co) == "suspended" then
    error("case " .. i .. " yielded across a Go boundary")
  end
end
-- each case that reached a yield must have been refused with the message
local missed = {}
for i, f in ipairs(cases) do
  local ok, err = coroutine.resume(coroutine.create(f))
  if ok or not string.find(tostring(err), "attempt to yield across", 1, true) then
    missed[#missed + 1] = i .. ": " .. tostring(err)
  end
end
if #missed > 0 then error("not refused: " .. table.concat(missed, "; ")) end
error("all refused: attempt to yield across")
