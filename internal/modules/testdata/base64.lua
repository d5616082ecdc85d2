-- RFC 4648 §10 test vectors, both alphabets, and the decoders' padding rules.

for _, v in ipairs({
  { "", "", "" },
  { "f", "Zg==", "Zg" },
  { "fo", "Zm8=", "Zm8" },
  { "foo", "Zm9v", "Zm9v" },
  { "foob", "Zm9vYg==", "Zm9vYg" },
  { "fooba", "Zm9vYmE=", "Zm9vYmE" },
  { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
}) do
  check(base64.encode(v[1]), v[2], "encode " .. v[1])
  check(base64.decode(v[2]), v[1], "decode " .. v[2])
  check(base64.decode(v[3]), v[1], "decode without padding " .. v[3])
  check(base64.url_encode(v[1]), v[3], "url_encode " .. v[1])
  check(base64.url_decode(v[3]), v[1], "url_decode " .. v[3])
  check(base64.url_decode(v[2]), v[1], "url_decode with padding " .. v[2])
end

-- the two alphabets differ in 62 and 63
local bin = "\251\255\191"
check(base64.encode(bin), "+/+/", "standard alphabet")
check(base64.url_encode(bin), "-_-_", "URL alphabet")
check(base64.decode("+/+/"), bin, "decode +/")
check(base64.url_decode("-_-_"), bin, "url_decode -_")
check(base64.encode("\0\1\2"), "AAEC", "bytes")
check(base64.decode(base64.encode(string.rep("\0\255", 1000))), string.rep("\0\255", 1000), "round trip")

-- line breaks are skipped (MIME text)
check(base64.decode("Zm9v\r\nYmFy"), "foobar", "CRLF")
check(base64.decode("Zm9v\nYg=="), "foob", "LF")

-- numbers are strings, as in Lua
check(base64.encode(12), "MTI=", "number")
