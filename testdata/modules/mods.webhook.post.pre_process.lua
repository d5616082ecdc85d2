-- A webhook receiver as DreamFactory scripts write it in PHP or JavaScript, with the library
-- modules: checks the body's HMAC-SHA256 signature (hex, in x-signature) with platform.config's
-- secret, then answers with what the other modules make of the request.
local body = event.request.content
local sig = crypto.hmac("sha256", platform.config.secret, body)
if not crypto.equal(sig, event.request.headers["x-signature"] or "") then
  error({ status_code = 401, message = "bad signature" })
end
local q = url.parse_query(url.parse("http://x" .. event.request.uri).query or "")
local id = uuid.v4()
local b64 = require("base64")
return { content = {
  md5 = crypto.md5(body),
  sha1 = crypto.sha1(body),
  sha512_raw_len = #crypto.sha512(body, true),
  b64 = b64.encode(body),
  b64url = base64.url_encode("\255\254\253"),
  back = base64.decode(b64.encode(body)) == body,
  token_len = #base64.url_decode(base64.url_encode(crypto.random_bytes(32))),
  tag = q.tag,
  tags = q.many,
  enc = url.encode("a b&c/d"),
  query = url.build_query({ b = "x y", a = { "1", "2" } }),
  email = re.match(q.email or "", [[^[^@\s]+@([^@\s]+\.\w+)$]]),
  words = re.find_all("one, two,three", [[\w+]]),
  dashed = (re.gsub("2026-12-02", [[(\d+)-(\d+)-(\d+)]], "${3}.${2}.${1}")),
  id_ok = re.match(id, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$") ~= nil,
  v7_sorted = uuid.v7() < uuid.v7(),
  date = time.format(1764633600.25, "%Y-%m-%d %H:%M:%S.%f", "+02:00"),
  rfc = time.format(time.parse("2026-12-02T01:02:03Z", "rfc3339"), "rfc3339"),
  now_ok = math.abs(time.now() - os.time()) < 5,
  same = require("crypto") == crypto and require("url") == url and require("re") == re
    and require("uuid") == uuid and require("time") == time,
} }
