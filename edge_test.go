package fastlua

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestBridgeDetails(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: []Script{
		{Name: "b.sniff.post.pre_process", Source: `event.response.headers["x-name"] = tostring(event.request.payload and event.request.payload.name)`},
		{Name: "b.inject.get.pre_process", Source: `event.request.headers["x-evil"] = "a\r\nInjected: yes"`},
		{Name: "b.badname.get.pre_process", Source: `event.request.headers["bad name"] = "x"`},
		{Name: "b.method.get.pre_process", Source: `event.request.method = "GET /x"`},
		{Name: "b.longmethod.get.pre_process", Source: `event.request.method = string.rep("X", 33)`},
		{Name: "b.status.get.pre_process", Source: `event.response.status_code = 1000`},
		{Name: "b.pairs.get.pre_process", Source: `
local keys = {}
for k in pairs(event) do keys[#keys + 1] = k end
for k in pairs(event.request) do keys[#keys + 1] = k end
for k in pairs(event.params) do keys[#keys + 1] = "p:" .. k end
table.sort(keys)
event.response.headers["x-keys"] = table.concat(keys, ",")`},
		{Name: "b.hdr.get.pre_process", Source: `event.response.headers["x-pre"] = "kept"`},
		{Name: "b.readfields.get.pre_process", Source: `
local r = event.request
event.response.headers["x-fields"] = table.concat({ r.method, r.uri, r.path, r.service, r.content_type or "-",
  tostring(r.parameters.q), tostring(event.response.status_code), tostring(event.response.content) }, "|")`},
	}}, h.handle)

	// curl -d sends a JSON body as form-urlencoded; the payload is still decoded.
	r := ts.do("POST", "/b/sniff", `{"name":"curl"}`, "Content-Type", "application/x-www-form-urlencoded")
	if r.headers["x-name"] != "curl" {
		t.Errorf("JSON sent as a form: x-name %q", r.headers["x-name"])
	}
	r = ts.do("POST", "/b/sniff", `name=form`, "Content-Type", "application/x-www-form-urlencoded")
	if r.headers["x-name"] != "nil" {
		t.Errorf("a real form body: x-name %q", r.headers["x-name"])
	}
	r = ts.do("POST", "/b/sniff", `{"name":`, "Content-Type", "application/json")
	if r.status != 200 || r.headers["x-name"] != "nil" {
		t.Errorf("invalid JSON: %d, x-name %q", r.status, r.headers["x-name"])
	}

	for path, want := range map[string]string{
		"/b/inject":     "control character",
		"/b/badname":    "not a valid header name",
		"/b/method":     "must be an HTTP method name",
		"/b/longmethod": "at most 32 bytes",
		"/b/status":     "from 100 to 599",
	} {
		r := ts.do("GET", path, "")
		if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %q, want %q", path, r.status, msg, want)
		}
	}

	r = ts.do("GET", "/b/pairs", "")
	if want := "content,headers,host,id,method,name,parameters,params,path,remote_addr,request,resource,response,scheme,service,uri"; r.headers["x-keys"] != want {
		t.Errorf("pairs: %q, want %q (%d %s)", r.headers["x-keys"], want, r.status, r.body)
	}
	// A response header set in pre_process without answering stays on the handler's response.
	if r := ts.do("GET", "/b/hdr", ""); r.headers["x-pre"] != "kept" || r.headers["x-handler"] != "echo" {
		t.Errorf("pre_process header: %v", r.headers)
	}
	r = ts.do("GET", "/b/readfields?q=search%20me", "")
	if want := "GET|/b/readfields?q=search%20me|/b/readfields|b|-|search me|nil|nil"; r.headers["x-fields"] != want {
		t.Errorf("fields: %q, want %q", r.headers["x-fields"], want)
	}
}

// Paths and methods at the edges do not disturb matching.
func TestOddRequests(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: []Script{
		{Name: "{svc}.{rest...}.purge.pre_process", Source: `event.response.headers["x-rest"] = event.params.rest`},
		{Name: "{svc}.get.pre_process", Source: `event.response.headers["x-svc"] = event.params.svc`},
	}}, h.handle)
	if r := ts.do("PURGE", "/cache/a/b%2Fc/d", ""); r.headers["x-rest"] != "a/b/c/d" {
		t.Errorf("custom method with an encoded slash: %q", r.headers["x-rest"])
	}
	if r := ts.do("GET", "/"+strings.Repeat("s", 1000), ""); r.status != 200 || len(r.headers["x-svc"]) != 1000 {
		t.Errorf("long service: %d %d", r.status, len(r.headers["x-svc"]))
	}
	if r := ts.do("GET", "/"+strings.Repeat("a/", 200), ""); r.status != 200 {
		t.Errorf("deep path: %d", r.status)
	}
	if r := ts.do("GET", "/%00/x", ""); r.status >= 500 {
		t.Errorf("NUL in the path: %d", r.status)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("")
	ts.mw.Wrap(h.handle)(&ctx)
}

// Requests at fasthttp's limits, and bodies that are not what a script expects.
func TestBadInput(t *testing.T) {
	h := &echo{}
	ts := adminServer(t, Config{AdminToken: "t", Scripts: []Script{
		{Name: "bad.{rest...}.{verb}.pre_process", Source: `
local n = 0
for k, v in pairs(event.request.headers) do n = n + #k + #v end
event.request.headers["x-total"] = n
local p = event.request.payload
event.request.headers["x-payload"] = type(p)
event.request.headers["x-big"] = ("v"):rep(3000)`},
	}})
	_ = h
	var hdrs []string
	for i := 0; i < 60; i++ {
		hdrs = append(hdrs, fmt.Sprintf("X-H%d", i), strings.Repeat("a", 40))
	}
	r := ts.do("POST", "/bad/"+strings.Repeat("s/", 500), `{"unterminated":`, hdrs...)
	if r.status != 200 {
		t.Fatalf("60 headers, 500 segments, invalid JSON: %d %s", r.status, r.body)
	}
	// A body over the admin API's bound is refused, and nothing changes.
	big := `{"name":"bad.x.get.pre_process","content":"` + strings.Repeat("x", maxAdminBody+1000) + `"}`
	before := len(ts.mw.Scripts())
	r = ts.do("POST", "/system/event_script", big, "Authorization", "Bearer t")
	if r.status != 413 {
		t.Fatalf("an oversized admin body: %d %s", r.status, r.body)
	}
	if len(ts.mw.Scripts()) != before {
		t.Fatal("an oversized admin body changed the scripts")
	}
	// A request whose headers exceed fasthttp's read buffer never reaches the middleware.
	r = ts.do("GET", "/bad/x", "", "X-Huge", strings.Repeat("h", 8000))
	if r.status != 431 {
		t.Fatalf("headers over the read buffer: %d", r.status)
	}
}
