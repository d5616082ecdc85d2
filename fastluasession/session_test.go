package fastluasession

import (
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestCredentials(t *testing.T) {
	custom := Config{APIKeyHeader: "X-Api-Key", APIKeyParam: "key", SessionTokenHeader: "X-Token"}
	for _, tc := range []struct {
		name    string
		cfg     Config
		uri     string
		headers []string
		want    map[string]any
	}{
		{"nothing", Config{}, "/x", nil, map[string]any{}},
		{"headers", Config{}, "/x", []string{"X-DreamFactory-Api-Key", "k1", "X-DreamFactory-Session-Token", "t1"},
			map[string]any{"api_key": "k1", "session_token": "t1"}},
		{"header names are case-insensitive", Config{}, "/x", []string{"x-dreamfactory-api-key", "k1"},
			map[string]any{"api_key": "k1"}},
		{"query parameter", Config{}, "/x?api_key=k2", nil, map[string]any{"api_key": "k2"}},
		{"the header wins over the parameter", Config{}, "/x?api_key=k2", []string{"X-DreamFactory-Api-Key", "k1"},
			map[string]any{"api_key": "k1"}},
		{"bearer", Config{}, "/x", []string{"Authorization", "Bearer  t2 "}, map[string]any{"session_token": "t2"}},
		{"bearer in lower case", Config{}, "/x", []string{"Authorization", "bearer t2"}, map[string]any{"session_token": "t2"}},
		{"the token header wins over bearer", Config{}, "/x", []string{"Authorization", "Bearer t2", "X-DreamFactory-Session-Token", "t1"},
			map[string]any{"session_token": "t1"}},
		{"basic is not a token", Config{}, "/x", []string{"Authorization", "Basic dXNlcjpwYXNz"}, map[string]any{}},
		{"bearer without a token", Config{}, "/x", []string{"Authorization", "Bearer "}, map[string]any{}},
		{"empty values are absent", Config{}, "/x?api_key=", []string{"X-DreamFactory-Api-Key", " ", "X-DreamFactory-Session-Token", ""},
			map[string]any{}},
		{"no token from the query", Config{}, "/x?session_token=t3", nil, map[string]any{}},
		{"custom names", custom, "/x?key=k3", []string{"X-Token", "t4", "X-DreamFactory-Api-Key", "ignored"},
			map[string]any{"api_key": "k3", "session_token": "t4"}},
		{"custom names ignore the defaults", custom, "/x?api_key=k", []string{"X-DreamFactory-Session-Token", "t"}, map[string]any{}},
		{"no parameter", Config{APIKeyParam: "-"}, "/x?api_key=k2&-=k", nil, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, tc.cfg)
			if got := request(b, tc.uri, tc.headers...); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{SessionURL: "ftp://df/api"}, "Config.SessionURL"},
		{Config{SessionURL: "/api/v2/user/session"}, "Config.SessionURL"},
		{Config{SessionURL: "http://"}, "Config.SessionURL"},
		{Config{APIKeyHeader: "X-Key: 1"}, "Config.APIKeyHeader"},
		{Config{SessionTokenHeader: "X Token"}, "Config.SessionTokenHeader"},
		{Config{JWTKey: []byte("short")}, "Config.JWTKey: an HMAC secret of 5 bytes"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fastluasession: ") {
			t.Errorf("New(%+v): %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Config{TTL: 2e9}.withDefaults()
	if c.NegativeTTL != 2e9 || c.FailureTTL != 1e9 {
		t.Fatalf("a short TTL bounds the others: negative %v, failure %v", c.NegativeTTL, c.FailureTTL)
	}
	c = Config{}.withDefaults()
	if c.TTL != 60e9 || c.NegativeTTL != 5e9 || c.FailureTTL != 1e9 || c.Timeout != 5e8 || c.Leeway != 10e9 ||
		c.CacheSize != 10000 || c.RoleClaim != "role" {
		t.Fatalf("defaults: %+v", c)
	}
}

// BenchmarkSessionCached is the cost of a request's session when its credential is cached.
func BenchmarkSessionCached(b *testing.B) {
	ep := newEndpoint(b, dreamFactory)
	s := newBuilder(b, Config{SessionURL: ep.url()})
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/api/v2/db/_table/x")
	ctx.Request.Header.Set("X-DreamFactory-Api-Key", "k1")
	ctx.Request.Header.Set("X-DreamFactory-Session-Token", "good")
	if userEmail(s.Session(&ctx)) == "" {
		b.Fatal("no user")
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Session(&ctx)
	}
}
