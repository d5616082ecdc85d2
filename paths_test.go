package fastlua

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// accessors is what every fasthttp accessor of a request says its query is.
func accessors(ctx *fasthttp.RequestCtx) map[string]string {
	query := func(uri string) string {
		_, q, _ := strings.Cut(uri, "?")
		return q
	}
	out := map[string]string{
		"URI().QueryString":   string(ctx.URI().QueryString()),
		"RequestURI":          query(string(ctx.RequestURI())),
		"URI().RequestURI":    query(string(ctx.URI().RequestURI())),
		"URI().FullURI":       query(string(ctx.URI().FullURI())),
		"URI().String":        query(ctx.URI().String()),
		"Request.String":      query(strings.Fields(ctx.Request.String())[1]),
		"Request.RequestURI":  query(string(ctx.Request.RequestURI())),
		"QueryArgs().String":  ctx.QueryArgs().String(),
		"Header.RequestURI()": query(string(ctx.Request.Header.RequestURI())),
	}
	return out
}

// agreeOn checks that every accessor's query decodes to want; it returns a description of the
// disagreements.
func agreeOn(got map[string]string, want url.Values) string {
	var bad []string
	for name, q := range got {
		v, err := url.ParseQuery(q)
		if err != nil || v.Encode() != want.Encode() {
			bad = append(bad, fmt.Sprintf("%s = %q", name, q))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "want " + want.Encode() + ", got " + strings.Join(bad, "; ")
}

// queryRecorder records, per path, what the accessors said.
type queryRecorder struct {
	mu   sync.Mutex
	seen map[string]map[string]string
	path map[string]string
}

func (q *queryRecorder) handle(ctx *fasthttp.RequestCtx) {
	a := accessors(ctx)
	q.mu.Lock()
	if q.seen == nil {
		q.seen, q.path = map[string]map[string]string{}, map[string]string{}
	}
	key := string(ctx.Request.Header.Peek("X-Probe"))
	q.seen[key] = a
	q.path[key] = string(ctx.Path())
	q.mu.Unlock()
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"ok":true}`)
}

func (q *queryRecorder) get(key string) (map[string]string, string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.seen[key], q.path[key]
}

// After a script changes parameters, every fasthttp accessor agrees on the query (issue 13.14),
// whichever way the script wrote them.
func TestParametersEveryAccessorAgrees(t *testing.T) {
	rec := &queryRecorder{}
	ts := serve(t, Config{Scripts: []Script{
		{Name: "q.set.get.pre_process", Source: `
local p = event.request.parameters
p.added = "a b&c=d"
p.page = nil
p.list = { "1", "2" }
local k = "dyn" .. "amic"
p[k] = 42`},
		{Name: "q.replace.get.pre_process", Source: `event.request.parameters = { only = "x", many = { "1", "2" } }`},
		{Name: "q.read.get.pre_process", Source: `
event.request.parameters.x = "1"
event.request.headers["x-read"] = event.request.parameters.x .. "|" .. event.request.uri`},
		{Name: "q.failed.get.pre_process", FailOpen: true, Source: `
event.request.parameters.kept = "yes"
error("after the change")`},
		{Name: "q.untouched.get.pre_process", Source: `local x = event.request.parameters.page`},
	}}, rec.handle)

	cases := []struct {
		path string
		want url.Values
	}{
		{"/q/set?page=2&keep=%2F", url.Values{"keep": {"/"}, "added": {"a b&c=d"}, "list": {"1", "2"}, "dynamic": {"42"}}},
		{"/q/replace?page=2", url.Values{"only": {"x"}, "many": {"1", "2"}}},
		{"/q/read?page=2", url.Values{"page": {"2"}, "x": {"1"}}},
		{"/q/failed?page=2", url.Values{"page": {"2"}, "kept": {"yes"}}},
		{"/q/untouched?page=2&b=%20", url.Values{"page": {"2"}, "b": {" "}}},
	}
	for _, c := range cases {
		r := ts.do("GET", c.path, "", "X-Probe", c.path)
		if r.status != 200 {
			t.Errorf("%s: %d %s", c.path, r.status, r.body)
			continue
		}
		got, _ := rec.get(c.path)
		if msg := agreeOn(got, c.want); msg != "" {
			t.Errorf("%s: %s", c.path, msg)
		}
	}
}

// pathEcho answers with the path and query the nested request arrived with, and checks that its
// accessors agree.
func pathEcho(ctx *fasthttp.RequestCtx) {
	a := accessors(ctx)
	q := map[string][]string{}
	for k, v := range ctx.QueryArgs().All() {
		q[string(k)] = append(q[string(k)], string(v))
	}
	want := url.Values(q)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(fmt.Sprintf(`{"path":%q,"query":%q,"agree":%q}`, ctx.Path(), want.Encode(), agreeOn(a, want)))
}

// Relative platform.api paths are split into path and query, decoded once and encoded again
// (issue 15.5); options.parameters merge into that query (issue 15.4); the path stays below
// the prefix, with no control character.
func TestPlatformAPITargets(t *testing.T) {
	ts := serve(t, Config{Prefix: "/api/v2", Scripts: []Script{{Name: "calls.x.get.pre_process", Source: `
local target = event.request.headers["x-target"]
local opts
if event.request.headers["x-param"] then
  opts = { parameters = { filter = event.request.headers["x-param"], list = { "1", "2" } } }
end
local r = platform.api.get(target, nil, opts)
return { status_code = 200, content = r.content }`}}}, pathEcho)

	cases := []struct {
		target, param string
		path, query   string // what the handler got: the decoded path, the decoded query
		errMsg        string
	}{
		{target: "db/_table/TransactionHistory?filter=(timestamp%3c2026-12-02 02:25:00)",
			path: "/api/v2/db/_table/TransactionHistory", query: url.Values{"filter": {"(timestamp<2026-12-02 02:25:00)"}}.Encode()},
		{target: "db/_table/My Table/1", path: "/api/v2/db/_table/My Table/1"},
		{target: "db/a%20b/%E2%82%AC?x=%E2%82%AC", path: "/api/v2/db/a b/€", query: "x=%E2%82%AC"},
		{target: "db/x?a=1+2&b=%2B&c=%26&d=50%", path: "/api/v2/db/x", query: url.Values{"a": {"1 2"}, "b": {"+"}, "c": {"&"}, "d": {"50%"}}.Encode()},
		{target: "db/x?tag=#1&y=2", path: "/api/v2/db/x", query: url.Values{"tag": {"#1"}, "y": {"2"}}.Encode()},
		{target: "db/x?filter=old&limit=1", param: "name = 'a b'", path: "/api/v2/db/x",
			query: url.Values{"filter": {"name = 'a b'"}, "limit": {"1"}, "list": {"1", "2"}}.Encode()},
		{target: "db/x", param: "y", path: "/api/v2/db/x", query: url.Values{"filter": {"y"}, "list": {"1", "2"}}.Encode()},
		// Decoded once: a double-encoded dot stays a literal "%2e" segment, below the prefix.
		{target: "db/%252e%252e/%252e%252e/metrics", path: "/api/v2/db/%2e%2e/%2e%2e/metrics"},
		{target: "db/%2e%2e/%2E%2e/%2e%2e/metrics", errMsg: `the path resolves to "/metrics", outside the prefix "/api/v2/"`},
		{target: "db/..%2f..%2f../metrics", errMsg: `outside the prefix`},
		{target: "db/./x//y/../z", path: "/api/v2/db/x/z"},
		{target: "db/x%00y", errMsg: "the path holds a control character once decoded"},
		{target: "db/x%0d%0aHost: evil", errMsg: "the path holds a control character once decoded"},
		{target: "db/x\ty", errMsg: "the path holds a control character (byte 5)"},
	}
	for _, c := range cases {
		h := []string{"X-Target", c.target}
		if c.param != "" {
			h = append(h, "X-Param", c.param)
		}
		r := ts.do("GET", "/api/v2/calls/x", "", h...)
		if c.errMsg != "" {
			if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, c.errMsg) {
				t.Errorf("%q: %d %q, want %q", c.target, r.status, msg, c.errMsg)
			}
			continue
		}
		v := r.json(t)
		if r.status != 200 || v["path"] != c.path || v["query"] != c.query || v["agree"] != "" {
			t.Errorf("%q: %d %s\nwant path %q, query %q", c.target, r.status, r.body, c.path, c.query)
		}
	}
}

// AppendPath encodes a path so that decoding it once (as fasthttp, or any server, does) gives
// it back, whatever bytes it holds.
func TestAppendPath(t *testing.T) {
	for _, p := range []string{"/", "/a/b", "/a b/€", "/%2e%2e/x", "/%/x", "/a%zz", `/a\b`, "/a;b=c/d", "/a+b", "/a?b#c",
		"/\x00\x01\x7f\xff", "/%252e", "/a:b@c!$&'()*,=", "/~user/-_."} {
		checkAppendPath(t, p)
	}
}

func checkAppendPath(t *testing.T, p string) {
	t.Helper()
	enc := string(AppendPath(nil, []byte(p)))
	if once, err := url.PathUnescape(enc); err != nil || once != p {
		t.Errorf("AppendPath(%q) = %q, decoding once to %q (%v)", p, enc, once, err)
	}
	for _, c := range []byte(enc) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`?#;\"<>^{|}+`+"`", c) >= 0 {
			t.Errorf("AppendPath(%q) = %q holds %q unencoded", p, enc, c)
		}
	}
	var u fasthttp.URI
	u.SetPath(enc)
	if normalized := string(u.Path()); !strings.Contains(p, "/.") && !strings.Contains(p, "//") && normalized != p {
		t.Errorf("fasthttp decodes AppendPath(%q) = %q to %q", p, enc, normalized)
	}
}

func FuzzAppendPath(f *testing.F) {
	for _, s := range []string{"/", "/a%2e%2e/b", `/x\..\y`, "/a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		p = "/" + p
		enc := string(AppendPath(nil, []byte(p)))
		if once, err := url.PathUnescape(enc); err != nil || once != p {
			t.Fatalf("AppendPath(%q) = %q, decoding once to %q (%v)", p, enc, once, err)
		}
	})
}

// platform.api keeps to the caller's time limit (issue 13.4): the handler below an in-process
// call reads the deadline with Deadline, and a call that runs out fails the script with the
// time-limit error, pcall or not; an outbound call is bounded the same way.
func TestPlatformAPIDeadline(t *testing.T) {
	stop := make(chan struct{}) // ends the slow handlers
	type seenDeadline struct {
		ok   bool
		left time.Duration
	}
	var sawDeadline atomic.Value
	sawDeadline.Store(seenDeadline{})
	saw := func() seenDeadline { return sawDeadline.Load().(seenDeadline) }
	handler := func(ctx *fasthttp.RequestCtx) {
		d, ok := Deadline(ctx)
		sawDeadline.Store(seenDeadline{ok, time.Until(d)})
		if string(ctx.Path()) == "/api/v2/slowgo/x" {
			wait := 5 * time.Second
			if ok {
				wait = time.Until(d) + 50*time.Millisecond // a handler that overruns a little
			}
			select {
			case <-time.After(wait):
			case <-stop:
			}
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	}
	// A slow upstream for outbound calls.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		select {
		case <-time.After(5 * time.Second):
		case <-stop:
		}
	}}
	go up.Serve(ln)
	defer func() {
		close(stop)
		_ = up.Shutdown()
	}()

	ts := serve(t, Config{Prefix: "/api/v2", AllowedHosts: []string{"127.0.0.1"}, HTTPTimeout: 10 * time.Second, Scripts: []Script{
		{Name: "d.plain.get.pre_process", TimeLimit: 500 * time.Millisecond, Source: `
local r = platform.api.get("slowgo/x")
return { content = { late = true } }`},
		{Name: "d.pcall.get.pre_process", TimeLimit: 500 * time.Millisecond, Source: `
local ok, err = pcall(platform.api.get, "slowgo/x")
return { content = { ok = ok, err = tostring(err) } }`},
		{Name: "d.loop.get.pre_process", TimeLimit: 500 * time.Millisecond, Source: `
for i = 1, 3 do
  local ok = pcall(platform.api.get, "slowgo/x")
end
return { content = { late = true } }`},
		{Name: "d.out.get.pre_process", TimeLimit: 500 * time.Millisecond, Source: `
local r = platform.api.get("http://` + ln.Addr().String() + `/slow")
return { content = { status = r.status_code } }`},
		{Name: "d.quick.get.pre_process", TimeLimit: 500 * time.Millisecond, Source: `
return platform.api.get("fast/x")`},
		{Name: "d.none.get.pre_process", TimeLimit: -1, Source: `return platform.api.get("fast/x")`},
	}, MaxTimeLimit: -1}, handler)

	for _, path := range []string{"/api/v2/d/plain", "/api/v2/d/pcall", "/api/v2/d/loop", "/api/v2/d/out"} {
		start := time.Now()
		r := ts.do("GET", path, "")
		elapsed := time.Since(start)
		if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, "exceeded its time limit of 500ms") {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
		if elapsed > 3*time.Second {
			t.Errorf("%s answered after %v: the 500 ms limit did not bound the call", path, elapsed)
		}
	}
	if !saw().ok {
		t.Errorf("the handler below a call saw no deadline")
	}
	var timeouts uint64
	for _, s := range ts.mw.Stats().Scripts {
		if strings.HasPrefix(s.Name, "d.") {
			timeouts += s.Timeouts
		}
	}
	if timeouts != 4 {
		t.Errorf("%d timeouts counted, want 4", timeouts)
	}
	// With time left, the handler sees the deadline and the call succeeds.
	if r := ts.do("GET", "/api/v2/d/quick", ""); r.status != 200 {
		t.Errorf("a quick call: %d %s", r.status, r.body)
	}
	if got := saw(); !got.ok || got.left <= 0 || got.left > 600*time.Millisecond {
		t.Errorf("the handler of a quick call saw %+v, want a deadline at most 500 ms (and a tick) away", got)
	}
	// Without a limit, no deadline.
	if r := ts.do("GET", "/api/v2/d/none", ""); r.status != 200 || saw().ok {
		t.Errorf("a call without a limit: %d %s, the handler saw %+v", r.status, r.body, saw())
	}
	// A request that is not a platform.api call has no deadline.
	var ctx fasthttp.RequestCtx
	if _, ok := Deadline(&ctx); ok {
		t.Error("a plain RequestCtx has a deadline")
	}
}

// Outbound platform.api calls get the same query handling: a raw space is encoded, and
// options.parameters merge into the query on the wire.
func TestPlatformAPIOutboundQuery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var raw atomic.Value
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		raw.Store(string(ctx.Request.Header.RequestURI()))
		ctx.SetContentType("application/json")
		ctx.SetBodyString(fmt.Sprintf(`{"filter":%q,"limit":%q}`, ctx.QueryArgs().Peek("filter"), ctx.QueryArgs().Peek("limit")))
	}}
	go up.Serve(ln)
	defer up.Shutdown()
	ts := serve(t, Config{AllowedHosts: []string{"127.0.0.1"}, Scripts: []Script{{Name: "out.{how}.get.pre_process", Source: `
local opts
if event.params.how == "merged" then opts = { parameters = { limit = 5 } } end
local r = platform.api.get("http://` + ln.Addr().String() + `/x?filter=(a%3c2026-12-02 02:25:00)#frag", nil, opts)
return { status_code = r.status_code, content = r.content }`}}}, (&echo{}).handle)
	for how, limit := range map[string]string{"plain": "", "merged": "5"} {
		r := ts.do("GET", "/out/"+how, "")
		if r.status != 200 {
			t.Errorf("%s: %d %s (the upstream got %v)", how, r.status, r.body, raw.Load())
			continue
		}
		if v := r.json(t); v["filter"] != "(a<2026-12-02 02:25:00)" || v["limit"] != limit {
			t.Errorf("%s: %d %s (the upstream got %v)", how, r.status, r.body, raw.Load())
		}
		if got := fmt.Sprint(raw.Load()); strings.ContainsAny(got, " #") {
			t.Errorf("%s: the upstream got %q", how, got)
		}
	}
}
