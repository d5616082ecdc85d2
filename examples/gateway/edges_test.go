package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
)

// hit is what the recording upstream received for one request.
type hit struct {
	RawURI  string              `json:"raw_uri"` // the request target as it came on the request line
	Path    string              `json:"path"`    // what fasthttp decoded and normalized it to
	Query   map[string][]string `json:"query"`
	RawQS   string              `json:"raw_query"`
	Matched string              `json:"matched"` // the path the gateway's scripts matched (x-matched)
	Guarded string              `json:"guarded"` // "ran" when a guarded.* script ran (x-guarded)
	// Override holds the method-override headers that reached the upstream.
	Override string `json:"override"`
	// Forwarded holds every X-Forwarded-For and X-Forwarded-Host line that reached it.
	Forwarded []string `json:"forwarded"`
}

// recorder is a real upstream on loopback that records what it received, by X-Probe.
type recorder struct {
	addr   string
	stop   chan struct{}
	slowIn atomic.Int32 // requests inside the slow endpoint
	mu     sync.Mutex
	hits   map[string]hit
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: ln.Addr().String(), stop: make(chan struct{}), hits: map[string]hit{}}
	srv := &fasthttp.Server{Handler: r.handle}
	go srv.Serve(ln)
	t.Cleanup(func() {
		close(r.stop) // ends the slow requests
		_ = srv.Shutdown()
	})
	return r
}

func (r *recorder) handle(ctx *fasthttp.RequestCtx) {
	h := hit{RawURI: string(ctx.Request.Header.RequestURI()), Path: string(ctx.Path()), Query: map[string][]string{},
		RawQS: string(ctx.URI().QueryString()), Guarded: string(ctx.Request.Header.Peek("X-Guarded")),
		Override: string(ctx.Request.Header.Peek("X-HTTP-Method-Override")) + string(ctx.Request.Header.Peek("X-HTTP-Method"))}
	for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Host"} {
		for _, v := range ctx.Request.Header.PeekAll(name) {
			h.Forwarded = append(h.Forwarded, name+": "+string(v))
		}
	}
	if m := ctx.Request.Header.Peek("X-Matched"); len(m) > 0 {
		dec, err := url.PathUnescape(string(m))
		if err != nil {
			dec = "undecodable x-matched " + string(m)
		}
		h.Matched = dec
	}
	for k, v := range ctx.QueryArgs().All() {
		h.Query[string(k)] = append(h.Query[string(k)], string(v))
	}
	if h.Path == "/api/v2/up/slow" {
		r.slowIn.Add(1)
		select {
		case <-time.After(5 * time.Second):
		case <-r.stop:
		}
	}
	r.mu.Lock()
	r.hits[string(ctx.Request.Header.Peek("X-Probe"))] = h
	r.mu.Unlock()
	b, _ := json.Marshal(h)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func (r *recorder) hit(probe string) (hit, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hits[probe]
	return h, ok
}

// rawGet sends target exactly as given on the request line (no client normalizes it).
func rawGet(t *testing.T, addr, target string, headers ...string) (int, string) {
	t.Helper()
	status, body, err := rawRequest(addr, target, headers...)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return status, body
}

// rawRequest is rawGet for any goroutine.
func rawRequest(addr, target string, headers ...string) (int, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: gateway.test\r\n", target)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return 0, "", err
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		return 0, "", err
	}
	return resp.StatusCode(), string(resp.Body()), nil
}

// The scripts of the path tests: every request below the prefix is stamped with the path the
// scripts matched; guarded.* needs a key; calls.* makes the platform.api call named in x-target.
var pathScripts = map[string]string{
	"{svc}.{rest...}.{verb}.pre_process.lua":   stamp,
	"{svc}.{verb}.pre_process.lua":             stamp,
	"guarded.{rest...}.{verb}.pre_process.lua": guard,
	"guarded.{verb}.pre_process.lua":           guard,
	"calls.{what}.get.pre_process.lua": `
local r = platform.api.get(event.request.headers["x-target"])
return { status_code = 200, content = { status = r.status_code, content = r.content } }`,
}

const stamp = `
event.request.headers["x-matched"] = (event.request.path:gsub("[^%w/%.~_-]", function(c)
  return string.format("%%%02X", c:byte())
end))`

const guard = `
if event.request.headers["x-key"] ~= "ok" then error({ status_code = 403, message = "guarded" }) end
event.request.headers["x-guarded"] = "ran"`

// route is where an upstream would route a decoded path, with the most lenient reading: a
// backslash separates segments too (as on Windows), and dot segments are resolved.
func route(p string) string {
	return path.Clean("/" + strings.ReplaceAll(p, `\`, "/"))
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// checkHit asserts the path rule on what the upstream received: it decodes the path once into
// exactly the path the scripts matched; what it would route to the guarded resource went
// through the guarded script; nothing the scripts saw below the prefix reaches outside it.
func checkHit(t *testing.T, what string, h hit) {
	t.Helper()
	rawPath, _, _ := strings.Cut(h.RawURI, "?")
	once, err := url.PathUnescape(rawPath)
	if err != nil {
		t.Errorf("%s: the upstream got %q, which does not decode: %v", what, h.RawURI, err)
		return
	}
	if under(route(h.Path), "/api/v2/guarded") && h.Guarded != "ran" {
		t.Errorf("%s: reached the guarded resource without its script: the upstream got %q (%q)", what, h.RawURI, h.Path)
	}
	if h.Matched == "" {
		// No script ran: the gateway saw the path outside the prefix; so must the upstream.
		if under(route(h.Path), "/api/v2") {
			t.Errorf("%s: reached %q below the prefix without a script (raw %q)", what, h.Path, h.RawURI)
		}
		return
	}
	// On the wire, exactly what fastlua.AppendPath makes of it: ";" and "+" escaped too, which
	// some servers read as path parameters and spaces.
	if want := string(fastlua.AppendPath(nil, []byte(h.Matched))); rawPath != want {
		t.Errorf("%s: the scripts matched %q; the upstream got %q on the wire, not %q", what, h.Matched, rawPath, want)
	}
	if once != h.Matched || h.Path != h.Matched {
		t.Errorf("%s: the scripts matched %q, the upstream got %q, decoding once to %q (fasthttp: %q)", what, h.Matched, h.RawURI, once, h.Path)
	}
	if !under(route(h.Path), "/api/v2") {
		t.Errorf("%s: the scripts matched %q below the prefix, the upstream routes it to %q", what, h.Matched, route(h.Path))
	}
}

var (
	dotForms = []string{"..", "%2e%2e", "%2E%2e", ".%2E", "%2e.", "%252e%252e", "%252E%252e", ".%252e",
		"%25252e%25252e", "%c0%ae%c0%ae", "%%32%65%%32%65", "%2e%2", "%zz", "%"}
	sepForms = []string{"/", "//", "%2f", "%2F", "%252f", "%25252F", `\`, "%5c", "%5C", "%255c", "%25255C"}
)

// Double-decoded paths do not bypass the scripts (issue 13.1): whatever the encoding of ".", "/"
// and "\", the upstream decodes the path once into exactly the path the scripts matched, both
// for clients' requests and for platform.api calls.
func TestGatewayPathIsThePathMatched(t *testing.T) {
	up := startRecorder(t)
	addr := startGateway(t, buildGateway(t), "-upstream", "http://"+up.addr, "-scripts", scriptDir(t, pathScripts), "-prefix", "/api/v2")

	// Controls: the guarded resource refuses without the key, and is reached with it.
	if status, body := rawGet(t, addr, "/api/v2/guarded/users"); status != 403 {
		t.Fatalf("the guarded resource without a key: %d %s", status, body)
	}
	if status, body := rawGet(t, addr, "/api/v2/guarded/users", "X-Key", "ok", "X-Probe", "control"); status != 200 {
		t.Fatalf("the guarded resource with the key: %d %s", status, body)
	}
	if h, _ := up.hit("control"); h.Guarded != "ran" || h.Matched != "/api/v2/guarded/users" || h.RawURI != "/api/v2/guarded/users" {
		t.Fatalf("control: %+v", h)
	}

	n := 0
	reached := map[bool]int{} // probes that reached the upstream after the scripts ran, by viaAPI
	probe := func(target string, viaAPI bool) {
		t.Helper()
		n++
		id := fmt.Sprint("p", n)
		var status int
		var body string
		if viaAPI {
			status, body = rawGet(t, addr, "/api/v2/calls/x", "X-Target", target, "X-Probe", id)
		} else {
			status, body = rawGet(t, addr, target, "X-Probe", id)
		}
		if status >= 500 && !viaAPI {
			t.Errorf("%s: %d %s", target, status, body)
		}
		if h, ok := up.hit(id); ok {
			what := target
			if viaAPI {
				what = "platform.api.get(" + target + ")"
			}
			checkHit(t, what, h)
			if h.Matched != "" {
				reached[viaAPI]++
			}
		}
	}
	for _, d := range dotForms {
		for _, s := range sepForms {
			probe("/api/v2/x"+s+d+s+"guarded/users", false)
			probe("/api/v2/"+d+s+d+s+"internal/secret", false)
			probe("/api/v2"+s+d+s+d+s+"internal/secret", false)
			probe("x"+s+d+s+"guarded/users", true)
			probe(d+s+d+s+"metrics", true)
		}
	}
	t.Logf("%d probes; through the scripts to the upstream: %d requests, %d platform.api calls", n, reached[false], reached[true])
	if reached[false] < 100 || reached[true] < 50 {
		t.Errorf("too few probes reached the upstream to test anything: %v", reached)
	}
	// The examples of the issue, by name.
	for _, target := range []string{"/api/v2/x/%252e%252e/guarded/users", "/api/v2/%252e%252e/%252e%252e/internal/secret"} {
		status, body := rawGet(t, addr, target, "X-Probe", target)
		if h, ok := up.hit(target); ok {
			checkHit(t, target, h)
			if h.Path == "/api/v2/guarded/users" || h.Path == "/internal/secret" {
				t.Errorf("%s reached %s (%d %s)", target, h.Path, status, body)
			}
		}
	}
	if status, body := rawGet(t, addr, "/api/v2/calls/x", "X-Target", "%252e%252e/%252e%252e/metrics", "X-Probe", "api-example"); status != 200 {
		t.Errorf("platform.api.get(%%252e%%252e/%%252e%%252e/metrics): %d %s", status, body)
	}
	if h, ok := up.hit("api-example"); !ok || h.Path != "/api/v2/%2e%2e/%2e%2e/metrics" {
		t.Errorf("platform.api.get(%%252e%%252e/%%252e%%252e/metrics) reached %+v", h)
	}
	// Bytes some servers read differently (path parameters, spaces) reach them escaped.
	for _, target := range []string{"/api/v2/guarded;x/users", "/api/v2/guarded%3bx/users", "/api/v2/open/%2b", "/api/v2/open/a+b"} {
		rawGet(t, addr, target, "X-Probe", target, "X-Key", "ok")
		if h, ok := up.hit(target); !ok {
			t.Errorf("%s did not reach the upstream", target)
		} else {
			checkHit(t, target, h)
		}
	}
	// A backslash is refused: upstreams disagree on whether it separates segments.
	if status, body := rawGet(t, addr, `/api/v2/x/..%5cguarded/users`); status != 400 || !strings.Contains(body, "backslash") {
		t.Errorf("a backslash in the path: %d %s", status, body)
	}
	// So are control bytes and invalid UTF-8, which upstreams truncate or decode differently.
	for _, target := range []string{"/api/v2/open/a%00b", "/api/v2/open/a%09b", "/api/v2/open/%c0%ae%c0%ae", "/api/v2/open/%ff"} {
		if status, body := rawGet(t, addr, target, "X-Probe", target); status != 400 {
			t.Errorf("%s: %d %s", target, status, body)
		}
		if _, ok := up.hit(target); ok {
			t.Errorf("%s reached the upstream", target)
		}
	}
	// A method-override header does not reach the upstream: the scripts ran for the method sent.
	rawGet(t, addr, "/api/v2/open/x", "X-Probe", "override", "X-HTTP-Method-Override", "DELETE", "X-HTTP-Method", "DELETE")
	if h, ok := up.hit("override"); !ok || h.Override != "" {
		t.Errorf("a method-override header reached the upstream: %+v", h)
	}
}

// Parameters a pre_process script sets reach the upstream (issues 13.14 and 15.4), as do the
// options.parameters of platform.api; a platform.api path with a raw space in its query (and
// in its path) is encoded before the call (issue 15.5).
func TestGatewayForwardsParameters(t *testing.T) {
	up := startRecorder(t)
	dir := scriptDir(t, map[string]string{
		// DreamFactory's filter_related_records example.
		"db._table.contact.get.pre_process.lua": `
event.request.parameters.filter = "(status='active') and (name like 'A%')"
event.request.parameters.fields = "id,name"
event.request.parameters.related = nil`,
		"db._table.account.get.pre_process.lua": `event.request.parameters = { limit = "5", order = { "a", "b c" } }`,
		"calls.{what}.get.pre_process.lua": `
local what = event.params.what
local r
if what == "usage" then
  -- DreamFactory's usage-alert example: a raw space in the filter.
  r = platform.api.get("db/_table/TransactionHistory?filter=(timestamp%3c2026-12-02 02:25:00)")
elseif what == "merge" then
  r = platform.api.get("db/_table/orders?limit=1&filter=old", nil, { parameters = { filter = "x y", ["a&b"] = "=" } })
elseif what == "space" then
  r = platform.api.get("db/_table/My Table/1")
end
return { status_code = 200, content = r }`,
	})
	addr := startGateway(t, buildGateway(t), "-upstream", "http://"+up.addr, "-scripts", dir, "-prefix", "/api/v2")

	check := func(target, probe string, want map[string][]string, wantPath string) {
		t.Helper()
		status, body := rawGet(t, addr, target, "X-Probe", probe)
		h, ok := up.hit(probe)
		if !ok {
			t.Errorf("%s: nothing reached the upstream: %d %s", target, status, body)
			return
		}
		if fmt.Sprint(h.Query) != fmt.Sprint(want) || h.Path != wantPath {
			t.Errorf("%s: the upstream got %s %v (raw %q), want %s %v", target, h.Path, h.Query, h.RawURI, wantPath, want)
		}
		if strings.ContainsAny(h.RawURI, " ()'") {
			t.Errorf("%s: unencoded bytes reached the wire: %q", target, h.RawURI)
		}
	}
	check("/api/v2/db/_table/contact?page=2&related=x", "contact",
		map[string][]string{"page": {"2"}, "filter": {"(status='active') and (name like 'A%')"}, "fields": {"id,name"}}, "/api/v2/db/_table/contact")
	check("/api/v2/db/_table/account?page=2", "account", map[string][]string{"limit": {"5"}, "order": {"a", "b c"}}, "/api/v2/db/_table/account")
	check("/api/v2/calls/usage", "usage", map[string][]string{"filter": {"(timestamp<2026-12-02 02:25:00)"}}, "/api/v2/db/_table/TransactionHistory")
	check("/api/v2/calls/merge", "merge", map[string][]string{"limit": {"1"}, "filter": {"x y"}, "a&b": {"="}}, "/api/v2/db/_table/orders")
	check("/api/v2/calls/space", "space", map[string][]string{}, "/api/v2/db/_table/My Table/1")
	if status, body := rawGet(t, addr, "/api/v2/calls/usage"); status != 200 || !strings.Contains(body, `"status_code":200`) {
		t.Errorf("the usage-alert call: %d %s", status, body)
	}
}

// platform.api keeps to the caller's time limit (issue 13.4): the gateway's proxy is bounded by
// fastlua.Deadline, the script fails with the time-limit error long before the slow upstream
// answers, and its state is free again for other requests.
func TestGatewayPlatformAPIDeadline(t *testing.T) {
	up := startRecorder(t)
	dir := scriptDir(t, map[string]string{
		"slow.get.pre_process.lua":               `return platform.api.get("up/slow")`,
		"{svc}.{rest...}.{verb}.pre_process.lua": `event.request.headers["x-seen"] = "1"`,
	})
	addr := startGateway(t, buildGateway(t), "-upstream", "http://"+up.addr, "-scripts", dir, "-prefix", "/api/v2",
		"-max-states", "2", "-time-limit", "1s", "-pool-timeout", "3s")

	type result struct {
		status  int
		body    string
		err     error
		elapsed time.Duration
	}
	results := make(chan result, 2)
	for i := 0; i < 2; i++ { // both states
		go func() {
			start := time.Now()
			status, body, err := rawRequest(addr, "/api/v2/slow", "X-Probe", fmt.Sprint("slow", i))
			results <- result{status, body, err, time.Since(start)}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); up.slowIn.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow calls did not reach the upstream")
		}
	}
	// Both states are held by scripts waiting on the upstream: a healthy request waits for one
	// (up to the pool timeout, 3 s) and gets it when their time (1 s) is up.
	if status, body := rawGet(t, addr, "/api/v2/healthy/x", "X-Probe", "healthy"); status != 200 {
		t.Errorf("a healthy request while the slow calls run: %d %s", status, body)
	}
	for i := 0; i < 2; i++ {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.status != 500 || !strings.Contains(r.body, "exceeded its time limit of 1s") {
			t.Errorf("the slow script: %d %s", r.status, r.body)
		}
		if r.elapsed > 4*time.Second {
			t.Errorf("the slow script answered after %v: its 1 s limit did not bound the upstream call", r.elapsed)
		}
	}
}

// A client's own X-Forwarded-For and X-Forwarded-Host lines, however many, do not reach the
// upstream as lines of their own: it gets one X-Forwarded-For with the client's hops first and
// the real client last, and one X-Forwarded-Host (Set replaced only the first copy, so a client's
// second X-Forwarded-For line came last, where an upstream looks for the client).
func TestGatewayForwardedHeadersAreOneLine(t *testing.T) {
	up := startRecorder(t)
	addr := startGateway(t, buildGateway(t), "-upstream", "http://"+up.addr, "-scripts", scriptDir(t, pathScripts), "-prefix", "/api/v2")
	status, body := rawGet(t, addr, "/api/v2/open/x", "X-Probe", "fwd",
		"X-Forwarded-For", "10.0.0.1", "X-Forwarded-For", "6.6.6.6",
		"X-Forwarded-Host", "a.example", "X-Forwarded-Host", "evil.example")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	h, ok := up.hit("fwd")
	if !ok {
		t.Fatal("the request did not reach the upstream")
	}
	want := []string{"X-Forwarded-For: 10.0.0.1, 6.6.6.6, 127.0.0.1", "X-Forwarded-Host: gateway.test"}
	if strings.Join(h.Forwarded, "|") != strings.Join(want, "|") {
		t.Fatalf("the upstream got %q, want %q", h.Forwarded, want)
	}
}
