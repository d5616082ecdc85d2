-- Tries every way to leave something behind for the next run.
leaked = "plain global"
_G.leaked_g = "through _G"
rawset(_G, "leaked_raw", "through rawset")
table.insert(_G, "through table.insert")
print = nil
local results = {
  pcall(function() event = nil end),        -- event and platform are read-only globals
  pcall(rawset, _G, "platform", nil),
  pcall(function() string.upper = function() return "pwned" end end),
  pcall(function() getmetatable("").__index = {} end),
  pcall(function() rawset(string, "lower", nil) end),
  pcall(setmetatable, 1, { __index = function() return "pwned" end }),
  pcall(setmetatable, _G, nil),
}
local refused = 0
for _, ok in ipairs(results) do if not ok then refused = refused + 1 end end
return { refused = refused }
