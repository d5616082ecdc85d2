-- Makes lua51.tsv: lua5.1 lua51.lua > rows && (head -1 lua51.tsv; cat rows) > new.tsv
-- Each case: a format and its arguments as Lua source, printed with Lua 5.1's result as three
-- Go-quoted fields separated by tabs.
local nz = -(0.0)
local cases = {}
local function c(f, args) cases[#cases + 1] = { f, args or "" } end
local nums = { "0", "1", "-1", "7", "-7", "42", "255", "256", "3.7", "-3.7", "0.5", "1.5", "2.5", "-0.5",
  "1e15", "1e16", "123456789", "1234567890123", "2^53", "-2^53", "2^63", "-2^63", "2^64", "1e300", "-1e300",
  "1e-5", "1e-300", "0.1", "100000", "1e6", "999999.5", "0.0001", "0.00001234", "math.pi", "-math.pi", "1/3",
  "5e-324", "1.7976931348623157e308", "(-(0.0))", "nz", "\"42\"", "\" 17 \"", "\"0x1F\"", "\"1e2\"", "\"-2.5\"" }
local intfmts = { "%d", "%i", "%5d", "%-5d|", "%05d", "%+d", "% d", "%+05d", "% 5d", "%.3d", "%8.3d", "%-8.3d|", "%08.3d", "%.0d", "%+.0d", "%99d", "%.99d", "%-+5d|", "%--5d" }
local ufmts = { "%u", "%o", "%x", "%X", "%#o", "%#x", "%#X", "%5x", "%-5x|", "%05x", "%#08x", "%.3x", "%#.3x", "%#.0o", "%.0x", "%+x", "% x", "%#5o", "%020o" }
local ffmts = { "%f", "%e", "%E", "%g", "%G", "%.0f", "%.1f", "%.2f", "%.10f", "%.99f", "%.0e", "%.3e", "%.99e", "%.0g", "%.1g", "%.3g", "%.10g", "%.17g", "%.99g",
  "%10.3f", "%-10.3f|", "%010.3f", "%+f", "% f", "%+010.2f", "%#.0f", "%#.0e", "%#g", "%#.3g", "%#G", "%#.0g", "%#10.3g", "%-#10.1g|", "%99.1f", "%+.3e", "%05g", "%#e" }
for _, n in ipairs(nums) do
  for _, f in ipairs(intfmts) do c(f, n) end
  for _, f in ipairs(ufmts) do c(f, n) end
  for _, f in ipairs(ffmts) do c(f, n) end
  c("%s", n)
end
for _, n in ipairs({ "1/0", "-1/0", "-(0/0)", "0/0" }) do
  for _, f in ipairs({ "%f", "%e", "%E", "%g", "%G", "%5.1f", "%-6f|", "%06f", "%+f", "% e", "%#g" }) do c(f, n) end
end
for _, n in ipairs({ "0", "65", "255", "256", "321", "-1", "97.9", "2^31", "-2^31", "2^40" }) do
  for _, f in ipairs({ "%c", "%5c", "%-5c|", "%05c", "%.3c" }) do c(f, n) end
end
local strs = { "\"\"", "\"a\"", "\"hello\"", "\"hello world, this is a string\"", "('x'):rep(99)", "('x'):rep(100)", "('y'):rep(250)",
  "\"a\\0b\"", "\"\\1\\2\\3\"", "\"caf\\195\\169\"" }
for _, s in ipairs(strs) do
  for _, f in ipairs({ "%s", "%5s", "%-5s|", "%.3s", "%10.2s", "%-10.2s|", "%05s", "%.0s", "%99s", "%.99s", "%q", "%10q" }) do c(f, s) end
end
c("%q", "\"line\\nnext\\r\\n\\\"quoted\\\" \\\\ back\\0zero\\0\\1\\127\\255\"")
c("%q", "12")
c("%q", "1.5")
c("%s %s %s", "1, 2.5, 'x'")
c("%d%%", "50")
c("%%")
c("100%% sure")
c("")
c("plain text")
c("%5.2s|%-5.2s|", "'abc', 'xyz'")
c("[%10s][%-10s]", "'right', 'left'")
c("%s=%d;", "'k', 9")
c("%x-%X-%o", "255, 255, 8")
for _, x in ipairs(cases) do
  local f, args = x[1], x[2]
  local chunk = assert(loadstring("local nz = ... return string.format(" .. string.format("%q", f) .. (args ~= "" and (", " .. args) or "") .. ")"))
  local ok, r = pcall(chunk, nz)
  if ok then
    -- a Go string literal: escape all non-printable bytes
    local out = {}
    for i = 1, #r do
      local b = r:byte(i)
      if b == 34 then out[#out+1] = '\\"' elseif b == 92 then out[#out+1] = "\\\\" elseif b < 32 or b >= 127 then out[#out+1] = string.format("\\x%02x", b) else out[#out+1] = string.char(b) end
    end
    local function golit(s)
      local o = {}
      for i = 1, #s do local b = s:byte(i) if b == 34 then o[#o+1] = '\\"' elseif b == 92 then o[#o+1] = "\\\\" elseif b < 32 or b >= 127 then o[#o+1] = string.format("\\x%02x", b) else o[#o+1] = string.char(b) end end
      return '"' .. table.concat(o) .. '"'
    end
    io.write(golit(f), "\t", golit(args), "\t\"", table.concat(out), "\"\n")
  else
    io.stderr:write("ERR ", f, " ", args, " ", r, "\n")
  end
end
