package fastlua

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// apiHandler is a small API: /api/v2/db/_table/customer, /api/v2/related_service/data,
// /api/v2/echo/... (echoes method, query, body), 404 for anything else.
func apiHandler(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	path := string(ctx.Path())
	switch {
	case path == "/api/v2/db/_table/customer":
		ctx.SetBodyString(`{"resource":[{"id":1,"name":"Ada"}]}`)
	case path == "/api/v2/related_service/data":
		ctx.SetBodyString(`{"items":[1,2]}`)
	case strings.HasPrefix(path, "/api/v2/echo/"):
		q := map[string]string{}
		for k, v := range ctx.QueryArgs().All() {
			q[string(k)] = string(v)
		}
		b, _ := json.Marshal(map[string]any{"method": string(ctx.Method()), "query": q, "body": string(ctx.PostBody()),
			"content_type": string(ctx.Request.Header.ContentType())})
		ctx.SetBody(b)
	default:
		ctx.SetStatusCode(404)
		ctx.SetBodyString(`{"error":{"code":404,"message":"Not Found"}}`)
	}
}

type user struct {
	Name   string
	Role   string
	APIKey string `luar:"apiKey"`
}

func (u *user) IsAdmin() bool { return u.Role == "admin" }

func platformServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	cfg.Prefix = "/api/v2"
	cfg.Scripts = append(cfg.Scripts, scriptsFrom(t, "platform")...)
	return serve(t, cfg, apiHandler)
}

func TestPlatformAPIPostProcessExample(t *testing.T) {
	ts := platformServer(t, Config{})
	r := ts.do("GET", "/api/v2/db/_table/customer", "", "X-Api-Key", "k1")
	v := r.json(t)
	rel, _ := v["related_data"].(map[string]any)
	if r.status != 200 || v["custom_field"] != "custom value" || rel == nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if fmt.Sprint(rel["items"]) != "[1 2]" || rel["via"] != "related_service script" || rel["caller_key"] != "k1" {
		t.Fatalf("related_data %v", rel)
	}
	if _, ok := v["resource"]; !ok {
		t.Fatal("the handler's content was lost")
	}
}

// A pool of one state, and a script that calls itself one level deep: the nested call runs on
// the caller's state and the request completes.
func TestPlatformAPINestedOnOneState(t *testing.T) {
	ts := platformServer(t, Config{MaxStates: 1, PoolTimeout: 2 * time.Second})
	done := make(chan response, 1)
	go func() { done <- ts.do("GET", "/api/v2/selfcall/outer", "", "X-Api-Key", "secret") }()
	var r response
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a nested platform.api call deadlocked on a pool of one state")
	}
	v := r.json(t)
	inner, _ := v["inner"].(map[string]any)
	if r.status != 200 || v["status"] != 200.0 || inner == nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if inner["inner_ran"] != true || inner["from"] != "outer" || inner["extra"] != "1" || inner["key"] != "secret" ||
		inner["depth_name"] != "selfcall.inner.get.pre_process" || !strings.HasPrefix(fmt.Sprint(v["ct"]), "application/json") {
		t.Fatalf("inner %v", inner)
	}
}

func TestPlatformAPIDepthAndErrors(t *testing.T) {
	ts := platformServer(t, Config{})
	r := ts.do("GET", "/api/v2/deep/x", "")
	if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, fmt.Sprintf("calls nest deeper than %d", MaxAPIDepth)) {
		t.Fatalf("endless recursion: %d %s", r.status, r.body)
	}
	cases := []struct {
		what   string
		status int
		check  func(v map[string]any) bool
		errMsg string
	}{
		{what: "missing", status: 200, check: func(v map[string]any) bool { return v["status"] == 404.0 }},
		{what: "post", status: 200, check: func(v map[string]any) bool {
			q, _ := v["query"].(map[string]any)
			return v["method"] == "POST" && v["body"] == `{"a":1,"list":[1,2]}` && q["q"] == "1" && q["p"] == "2" && v["content_type"] == "application/json"
		}},
		{what: "rawpost", status: 200, check: func(v map[string]any) bool {
			return v["method"] == "PUT" && v["body"] == "raw body" && v["content_type"] == "text/plain"
		}},
		{what: "returned", status: 200, check: func(v map[string]any) bool {
			q, _ := v["query"].(map[string]any)
			return v["method"] == "GET" && q["from"] == "returned"
		}},
		{what: "call", status: 200, check: func(v map[string]any) bool {
			q, _ := v["query"].(map[string]any)
			return v["method"] == "PATCH" && v["body"] == `{"a":1}` && q["p"] == "3"
		}},
		{what: "badverb", status: 500, errMsg: `the verb must be GET, POST, PUT, PATCH or DELETE, not "TRACE"`},
		{what: "badpath", status: 500, errMsg: "string expected, got table"},
		{what: "badpayload", status: 500, errMsg: "payload must be a table, a string or nil"},
		{what: "badoptions", status: 500, errMsg: "options.headers must be a table"},
		{what: "dotdot", status: 500, errMsg: `the path resolves to "/admin/secret", outside the prefix "/api/v2/"`},
		{what: "encdots", status: 500, errMsg: `the path resolves to "/metrics", outside the prefix`},
		{what: "nul", status: 500, errMsg: "the path holds a control character (byte 8)"},
		{what: "inside", status: 200, check: func(v map[string]any) bool { return v["method"] == "GET" }},
	}
	for _, c := range cases {
		r := ts.do("GET", "/api/v2/calls/"+c.what, "")
		if r.status != c.status {
			t.Errorf("%s: %d %s", c.what, r.status, r.body)
			continue
		}
		if c.errMsg != "" {
			if msg := r.errorMessage(t); !strings.Contains(msg, c.errMsg) {
				t.Errorf("%s: %q, want %q", c.what, msg, c.errMsg)
			}
			continue
		}
		if v := r.json(t); !c.check(v) {
			t.Errorf("%s: %s", c.what, r.body)
		}
	}
}

func TestPlatformAPIExternal(t *testing.T) {
	// A real upstream on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var sawKey atomic.Value
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		sawKey.Store(string(ctx.Request.Header.Peek("X-Api-Key")) + "|" + string(ctx.Request.Header.Peek("X-Sent")))
		if string(ctx.Path()) == "/slow" {
			time.Sleep(time.Second)
		}
		ctx.Response.Header.Set("X-Upstream-Header", "up")
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"upstream":true,"x":"` + string(ctx.QueryArgs().Peek("x")) + `"}`)
	}}
	go up.Serve(ln)
	defer up.Shutdown()
	base := "http://" + ln.Addr().String()

	ts := platformServer(t, Config{AllowedHosts: []string{"127.0.0.1"}, HTTPTimeout: 200 * time.Millisecond})
	r := ts.do("GET", "/api/v2/ext/ok", "", "X-Upstream", base, "X-Api-Key", "secret")
	v := r.json(t)
	body, _ := v["body"].(map[string]any)
	if r.status != 200 || v["status"] != 200.0 || body["upstream"] != true || body["x"] != "1" || v["header"] != "up" {
		t.Fatalf("allowed host: %d %s", r.status, r.body)
	}
	if got := sawKey.Load(); got != "|yes" {
		t.Fatalf("the upstream saw %q: the caller's credentials leaked, or options.headers were not sent", got)
	}
	r = ts.do("GET", "/api/v2/ext/refused", "", "X-Upstream", base)
	if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, "example.invalid is not an allowed host") {
		t.Fatalf("refused host: %d %s", r.status, r.body)
	}
	start := time.Now()
	r = ts.do("GET", "/api/v2/ext/slow", "", "X-Upstream", base)
	if v := r.json(t); v["status"] != 504.0 || !strings.Contains(fmt.Sprint(v["message"]), "timeout") || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("slow upstream: %s after %v", r.body, time.Since(start))
	}
	noHosts := platformServer(t, Config{AllowedHosts: []string{"127.0.0.1:1"}})
	if r := noHosts.do("GET", "/api/v2/ext/down", ""); r.json(t)["status"] != 502.0 {
		t.Fatalf("unreachable upstream: %s", r.body)
	}
}

func TestPlatformConfigAndSession(t *testing.T) {
	var sessions atomic.Int32
	cfg := Config{
		PlatformConfig: map[string]any{
			"greeting": "hi",
			"limits":   map[string]int{"rate": 3, "burst": 5},
			"list":     []string{"a", "b"},
			"owner": &struct {
				Name   string
				Nested struct{ Level int }
			}{Name: "ops", Nested: struct{ Level int }{Level: 2}},
		},
		Session: func(ctx *fasthttp.RequestCtx) any {
			sessions.Add(1)
			return &user{Name: "ada", Role: "admin", APIKey: string(ctx.Request.Header.Peek("X-Api-Key"))}
		},
	}
	ts := platformServer(t, cfg)
	r := ts.do("GET", "/api/v2/cfg/read", "", "X-Api-Key", "k9")
	want := map[string]any{"greeting": "hi", "rate": 3.0, "n": 2.0, "first": "a", "limits": "burst=5,rate=3", "items": "a,b",
		"owner": "ops", "level": 2.0, "user": "ada", "role": "admin", "key": "k9", "method": "nil"}
	v := r.json(t)
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %v, want %v (%s)", k, v[k], w, r.body)
		}
	}
	for _, what := range []string{"top", "nested", "list", "session", "struct", "replace", "api"} {
		r := ts.do("GET", "/api/v2/cfg/write?what="+what, "")
		if msg := r.errorMessage(t); r.status != 500 || !(strings.Contains(msg, "read-only") || strings.Contains(msg, "cannot be changed")) {
			t.Errorf("write %s: %d %s", what, r.status, r.body)
		}
	}
	if cfg.PlatformConfig.(map[string]any)["greeting"] != "hi" || cfg.PlatformConfig.(map[string]any)["limits"].(map[string]int)["rate"] != 3 {
		t.Fatal("a script changed the Go configuration")
	}
	before := sessions.Load()
	r = ts.do("GET", "/api/v2/cfg/session", "")
	if v := r.json(t); v["outer"] != "ada" || v["inner"] != "ada" {
		t.Fatalf("session in a nested call: %s", r.body)
	}
	if n := sessions.Load() - before; n != 1 {
		t.Fatalf("Config.Session ran %d times for one request and its nested call", n)
	}
	if _, err := New(Config{PlatformConfig: ts.mw}); err != nil {
		t.Fatalf("a pointer to any Go value is accepted: %v", err)
	}
}

func TestModules(t *testing.T) {
	ts := platformServer(t, Config{Scripts: []Script{luaFile(t, "mods.json.get.pre_process", "json/roundtrip.lua")}})
	if r := ts.do("GET", "/api/v2/mods/json", ""); r.status != 404 || r.headers["x-json"] != "all passed" {
		t.Fatalf("json conformance: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", "/api/v2/mods/log", ""); r.headers["x-same"] != "true" {
		t.Fatalf("require(\"json\") is not json: %v", r.headers)
	}
	logs := ts.logs.String()
	for _, want := range []string{
		`level=INFO msg="hello from Lua" script=mods.log.get.pre_process event=mods.log.get.pre_process`,
		"user=ada", "n=3", "ok=true", "list=[1,2]",
		`level=WARN msg=careful`,
		`msg="printed\t42\tnil"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// Without Config.Session, or when it returns nil, platform.session is an empty read-only table:
// platform.session.user is nil, not an error (DreamFactory's scripts never guard it).
func TestPlatformSessionAlwaysATable(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no hook":     {},
		"hook is nil": {Session: func(*fasthttp.RequestCtx) any { return nil }},
	} {
		ts := platformServer(t, cfg)
		r := ts.do("GET", "/api/v2/cfg/nosession", "")
		v := r.json(t)
		if r.status != 200 || v["user"] != "nil" || v["key"] != "nil" || v["n"] != 0.0 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		if w, _ := v["write"].(string); !strings.Contains(w, "platform.session is read-only") {
			t.Errorf("%s: a write to the empty session: %s", name, r.body)
		}
	}
}

// platform.session and platform.config are always tables (SPEC §4): without Config.Session,
// with a hook that returns nil or a nil pointer, without Config.PlatformConfig or with a nil
// map, a script reads platform.session.user as nil instead of failing on indexing nil, and the
// empty tables refuse writes as the full ones do.
func TestPlatformSessionAndConfigNeverNil(t *testing.T) {
	var nilMap map[string]any
	var nilUser *user
	cases := []struct {
		name string
		cfg  Config
		logs string // what the log must hold
	}{
		{name: "no hook, no config"},
		{name: "hook returns nil, nil map config", cfg: Config{PlatformConfig: nilMap, Session: func(*fasthttp.RequestCtx) any { return nil }}},
		{name: "nil pointers", cfg: Config{PlatformConfig: nilUser, Session: func(*fasthttp.RequestCtx) any { return nilUser }}},
		{name: "hook returns a string", cfg: Config{Session: func(*fasthttp.RequestCtx) any { return "ada" }},
			logs: "Config.Session must return nil, a map, a struct or a pointer to one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := platformServer(t, c.cfg)
			for i := 0; i < 2; i++ { // the second request runs on a state that served one
				r := ts.do("GET", "/api/v2/cfg/empty", "")
				v := r.json(t)
				want := map[string]any{"user": "nil", "role": "nil", "region": "nil", "pairs": 0.0, "len": 0.0,
					"session": "platform.session", "config": "platform.config", "same": true, "inner": 200.0}
				for k, w := range want {
					if v[k] != w {
						t.Errorf("%s = %v, want %v (%d %s)", k, v[k], w, r.status, r.body)
					}
				}
				for _, k := range []string{"write_session", "write_config"} {
					if s, _ := v[k].(string); !strings.Contains(s, "read-only") {
						t.Errorf("%s: %v", k, v[k])
					}
				}
			}
			if c.logs != "" && !strings.Contains(ts.logs.String(), c.logs) {
				t.Errorf("the log lacks %q:\n%s", c.logs, ts.logs.String())
			}
		})
	}
}

// A PlatformConfig that scripts could not read as a table is refused by New, with what it is.
func TestPlatformConfigMustBeTableLike(t *testing.T) {
	for _, v := range []any{"region=eu", 42, func() {}, lua.LString("x"), lua.LNil} {
		_, err := New(Config{PlatformConfig: v})
		if err == nil || !strings.Contains(err.Error(), "Config.PlatformConfig") || !strings.HasPrefix(err.Error(), "fastlua: ") {
			t.Errorf("PlatformConfig %T: %v", v, err)
		}
	}
	for _, v := range []any{nil, map[string]int{}, []string{"a"}, struct{ A int }{1}, &user{}, [2]int{}} {
		if _, err := New(Config{PlatformConfig: v}); err != nil {
			t.Errorf("PlatformConfig %T: %v", v, err)
		}
	}
}
