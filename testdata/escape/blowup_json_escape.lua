-- expect: Config.MaxJSONSize
-- alloc: 24
-- A control byte is six bytes of JSON: 3 MB of them is 18 MB of text, refused before it is
-- written.
local s = ("\1"):rep(1024 * 1024)
json.encode({ s, s, s })
