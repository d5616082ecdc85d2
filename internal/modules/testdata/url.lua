-- Percent-encoding in both forms, query strings, and RFC 3986's example URLs taken apart.

check(url.encode("a b&c=d/é~-._"), "a%20b%26c%3Dd%2F%C3%A9~-._", "component form")
check(url.encode_query("a b&c=d/é~-._"), "a+b%26c%3Dd%2F%C3%A9~-._", "query form")
check(url.encode("!'()*"), "%21%27%28%29%2A", "RFC 3986 escapes what encodeURIComponent keeps")
check(url.encode(""), "", "empty")
check(url.encode("\0\255"), "%00%FF", "bytes")
check(url.decode("a%20b+c%2f%2F"), "a b+c//", "decode: + stays")
check(url.decode_query("a%20b+c"), "a b c", "decode_query: + is a space")
check(url.decode("%C3%A9"), "é", "UTF-8")
check(url.decode("plain"), "plain", "nothing to decode")
local all = {}
for i = 0, 255 do all[#all + 1] = string.char(i) end
all = table.concat(all)
check(url.decode(url.encode(all)), all, "component round trip")
check(url.decode_query(url.encode_query(all)), all, "query round trip")

-- parse_query: once a string, repeated a list
check(url.parse_query("a=1&b=x+y&c=%26&a=2&d&e=&&f=a=b"),
  { a = { "1", "2" }, b = "x y", c = "&", d = "", e = "", f = "a=b" }, "parse_query")
check(url.parse_query("?q=lua"), { q = "lua" }, "leading ?")
check(url.parse_query(""), {}, "empty")
check(url.parse_query("a[]=1&a[]=2"), { ["a[]"] = { "1", "2" } }, "brackets are part of the key")
check(url.parse_query("k=1;j=2"), { k = "1;j=2" }, "; is not a separator")

-- build_query: sorted, lists repeat the key
check(url.build_query({ b = "x y", a = 1, c = { "1", "2" }, d = true, e = {} }), "a=1&b=x+y&c=1&c=2&d=true", "build_query")
check(url.build_query({}), "", "empty")
check(url.build_query({ ["k&=1"] = "v&=2" }), "k%26%3D1=v%26%3D2", "escaped")
check(url.build_query({ [1] = "one", [2.5] = "x" }), "1=one&2.5=x", "number keys")
local q = "a=1&a=2&b=%C3%A9&c=x+y"
check(url.build_query(url.parse_query(q)), q, "round trip")

-- RFC 3986 §1.1.2 and §3
check(url.parse("foo://example.com:8042/over/there?name=ferret#nose"),
  { scheme = "foo", host = "example.com:8042", hostname = "example.com", port = 8042, path = "/over/there", query = "name=ferret", fragment = "nose" }, "§3")
check(url.parse("ftp://ftp.is.co.za/rfc/rfc1808.txt"),
  { scheme = "ftp", host = "ftp.is.co.za", hostname = "ftp.is.co.za", path = "/rfc/rfc1808.txt" }, "ftp")
check(url.parse("http://www.ietf.org/rfc/rfc2396.txt"),
  { scheme = "http", host = "www.ietf.org", hostname = "www.ietf.org", path = "/rfc/rfc2396.txt" }, "http")
check(url.parse("ldap://[2001:db8::7]/c=GB?objectClass?one"),
  { scheme = "ldap", host = "[2001:db8::7]", hostname = "2001:db8::7", path = "/c=GB", query = "objectClass?one" }, "ldap")
check(url.parse("mailto:John.Doe@example.com"), { scheme = "mailto", path = "John.Doe@example.com" }, "mailto")
check(url.parse("news:comp.infosystems.www.servers.unix"), { scheme = "news", path = "comp.infosystems.www.servers.unix" }, "news")
check(url.parse("tel:+1-816-555-1212"), { scheme = "tel", path = "+1-816-555-1212" }, "tel")
check(url.parse("telnet://192.0.2.16:80/"), { scheme = "telnet", host = "192.0.2.16:80", hostname = "192.0.2.16", port = 80, path = "/" }, "telnet")
check(url.parse("urn:oasis:names:specification:docbook:dtd:xml:4.1.2"), { scheme = "urn", path = "oasis:names:specification:docbook:dtd:xml:4.1.2" }, "urn")
check(url.parse("https://user:pa%20ss@Example.COM/a%20b/c?x=1%202#frag%20ment"),
  { scheme = "https", user = "user", password = "pa ss", host = "Example.COM", hostname = "Example.COM", path = "/a%20b/c", query = "x=1%202", fragment = "frag%20ment" }, "user, escapes")
check(url.parse("/relative/path?q"), { path = "/relative/path", query = "q" }, "relative")
check(url.parse("HTTP://h"), { scheme = "http", host = "h", hostname = "h" }, "scheme lower case")
