package fastlua

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// event.request.remote_addr, .scheme and .host believe forwarding headers only from
// Config.TrustedProxies: a client that sends X-Forwarded-For (or Forwarded) itself gets its
// real address (issue 15.8).
func TestClientAddressAndSpoofing(t *testing.T) {
	scripts := scriptsFrom(t, "client")
	untrusted := serve(t, Config{Prefix: "/api/v2", Scripts: scripts}, func(*fasthttp.RequestCtx) {})
	trusted := serve(t, Config{Prefix: "/api/v2", Scripts: scripts, TrustedProxies: []string{"127.0.0.1", "10.0.0.0/8"}}, func(*fasthttp.RequestCtx) {})
	for _, c := range []struct {
		name    string
		ts      *testServer
		headers []string
		addr    string
		scheme  string
		host    string
	}{
		{"no headers", untrusted, nil, "127.0.0.1", "http", ""},
		{"spoofed X-Forwarded-For", untrusted, []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example"}, "127.0.0.1", "http", ""},
		{"spoofed Forwarded", untrusted, []string{"Forwarded", "for=6.6.6.6;proto=https;host=evil.example"}, "127.0.0.1", "http", ""},
		{"trusted proxy", trusted, []string{"X-Forwarded-For", "203.0.113.7", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com"}, "203.0.113.7", "https", "api.example.com"},
		{"trusted chain", trusted, []string{"X-Forwarded-For", "203.0.113.7, 10.1.2.3"}, "203.0.113.7", "http", ""},
		{"a client's forged hop is left of its own", trusted, []string{"X-Forwarded-For", "1.2.3.4, 203.0.113.7"}, "203.0.113.7", "http", ""},
		{"Forwarded", trusted, []string{"Forwarded", `for=1.2.3.4, for="[2001:db8::17]:4711";proto=https;host=api.example.com`}, "2001:db8::17", "https", "api.example.com"},
		{"Forwarded unknown hop", trusted, []string{"Forwarded", "for=unknown, for=10.0.0.9"}, "10.0.0.9", "http", ""},
		{"garbage", trusted, []string{"X-Forwarded-For", "not-an-ip", "X-Forwarded-Proto", "gopher"}, "127.0.0.1", "http", ""},
		{"bad host", trusted, []string{"X-Forwarded-For", "203.0.113.7", "X-Forwarded-Host", "a/b"}, "203.0.113.7", "http", ""},
	} {
		r := c.ts.do("GET", "/api/v2/who/am", "", c.headers...)
		v := r.json(t)
		host := c.host
		if host == "" {
			host = c.ts.addr
		}
		if v["remote_addr"] != c.addr || v["scheme"] != c.scheme || v["host"] != host {
			t.Errorf("%s: got %v, want %s %s %s", c.name, v, c.addr, c.scheme, host)
		}
	}
	if _, err := New(Config{TrustedProxies: []string{"10.0.0.0/33"}}); err == nil || err.Error() != `fastlua: Config.TrustedProxies: "10.0.0.0/33" is not an IP address or CIDR range` {
		t.Errorf("a bad entry: %v", err)
	}
}
