package fastlua

// The fuzz targets of the parts that read untrusted input: event patterns, Lua sources,
// requests as the bridge sees them (JSON's are in bridge/fuzz_test.go). Their corpora in testdata/fuzz are the inputs that
// widened coverage in 5-minute runs of each (go test -run '^$' -fuzz '^FuzzX$' -fuzztime 5m .);
// plain go test runs them as regression cases, .ci/run fuzzes each for 15 seconds more.

import (
	"errors"
	"strings"
	"testing"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// referenceMatch is a direct reading of the matching rules, independent of the trie: the
// pattern's segments against the path's non-empty segments, the verb, the phase.
func referenceMatch(p *pattern, path, method string) bool {
	var segs []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if p.verbName == "" && p.verb != strings.ToLower(method) {
		return false
	}
	for i, ps := range p.segs {
		switch ps.kind {
		case segCatchAll:
			return len(segs) > i
		case segParam:
			if i >= len(segs) {
				return false
			}
		case segLiteral:
			if i >= len(segs) || segs[i] != ps.text {
				return false
			}
		}
	}
	return len(segs) == len(p.segs)
}

// Any source compiles or fails with a *CompileError; nothing panics or crashes.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"local x = 1", "return event.request.headers['x']", "if then end", "x = ", "local t = {1, 2, [3] = {}}",
		"for i = 1, 10 do end", "goto x ::x::", "return " + strings.Repeat("-", 100) + "1", "a.b.c:d(e)[f] = g",
		"local function f(...) return select('#', ...) end", "--[[ long", "'unterminated", "return 0x1p4",
		"return a .. (b .. c) .. (d .. e .. f()) .. {g .. ...}", "t[a .. b] = function() return x .. y end",
	} {
		f.Add(seed)
	}
	c := newCompiler(16, 1<<20)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := c.compile("fuzz.x.get.pre_process", src)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) || ce.Message == "" || ce.Message == errUnboundedConcat {
				t.Fatalf("compile: %T %v", err, err)
			}
			return
		}
		if p == nil {
			t.Fatal("no proto and no error")
		}
		objs := levelObjects{
			values: map[string]lua.LValue{"event": bridgeNull, "event.request": bridgeNull, "event.request.headers": bridgeNull},
			field:  func(string, string, bool) lua.LValue { return bridgeNull },
		}
		if sp := specialize(p, objs); len(sp.Code) != len(p.Code) {
			t.Fatalf("specialize changed the instruction count: %d, was %d", len(sp.Code), len(p.Code))
		}
		straightLine(p)
	})
}

var bridgeNull = bridge.Null

// A request of any shape through a script that reads and writes every field: the middleware
// answers, never panics.
func FuzzRequestBridge(f *testing.F) {
	f.Add("GET", "/f/x", "a=1&b=2", "X-Test", "v", `{"name":"x"}`)
	f.Add("POST", "/f/../f/x", "", "Content-Type", "application/json", `{"a":[1,2,{"b":null}]}`)
	f.Add("PATCH", "/f/%00", "a=%ff", "X", "\xff", "not json")
	f.Add("DELETE", "/f/x/y/z", "=&&=", "", "", `[`)
	f.Add("PUT", "/f", "q", "Content-Type", "text/plain", `{"dup":1,"dup":2}`)
	src := `
local r, s = event.request, event.response
local seen = { r.method, r.uri, r.path, r.service, tostring(r.content_type), tostring(r.content), event.name, event.resource }
for k, v in pairs(r.headers) do seen[#seen + 1] = k .. v end
for k, v in pairs(r.parameters) do seen[#seen + 1] = k .. v end
for k, v in pairs(event.params) do seen[#seen + 1] = k .. v end
local p = r.payload
if type(p) == "table" then p.fuzzed = true end
r.headers["x-fuzz"] = #seen
r.parameters["fuzz"] = "1"
if event.request.parameters["answer"] then
  s.status_code = 202
  s.content = { seen = #seen }
end`
	post := `
local c = event.response.content
if type(c) == "table" then c.post = true else event.response.content = { was = tostring(c) } end
event.response.headers["x-post"] = event.response.status_code`
	mw, err := New(Config{Scripts: []Script{
		{Name: "{svc}.{rest...}.{verb}.pre_process", Source: src},
		{Name: "{svc}.{verb}.pre_process", Source: src},
		{Name: "{svc}.{rest...}.{verb}.post_process", Source: post},
	}})
	if err != nil {
		f.Fatal(err)
	}
	h := mw.Wrap(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(ctx.PostBody())
	})
	f.Fuzz(func(t *testing.T, method, path, query, hname, hvalue, body string) {
		var ctx fasthttp.RequestCtx
		if method != "" {
			ctx.Request.Header.SetMethod(method)
		}
		ctx.Request.SetRequestURI(path + "?" + query)
		if hname != "" {
			ctx.Request.Header.Set(hname, hvalue)
		}
		ctx.Request.SetBodyString(body)
		h(&ctx)
		if s := ctx.Response.StatusCode(); s < 100 || s > 599 {
			t.Fatalf("status %d", s)
		}
	})
}
