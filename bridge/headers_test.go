package bridge

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

func TestCanonicalHeaderNames(t *testing.T) {
	var e Event
	for in, want := range map[string]string{
		"x-request-id": "X-Request-Id", "CONTENT-type": "Content-Type", "a--b": "A--B", "x": "X", "Etag": "Etag",
	} {
		for i := 0; i < 2; i++ { // computed, then cached
			if got := string(e.canonical(in)); got != want {
				t.Errorf("canonical(%q) = %q, want %q", in, got, want)
			}
		}
	}
	for i := 0; i < 40; i++ { // more names than the cache holds
		name := string(rune('a'+i%26)) + "-" + string(rune('a'+i/26))
		if got := string(e.canonical(name)); got[0] < 'A' || got[0] > 'Z' {
			t.Fatalf("canonical(%q) = %q", name, got)
		}
	}
}

// Header writes follow the header's own normalization setting.
func TestHeaderWritesNormalization(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	for _, disabled := range []bool{false, true} {
		e := NewEvent(L)
		var req fasthttp.Request
		var resp fasthttp.Response
		if disabled {
			req.Header.DisableNormalizing()
		}
		e.Bind(nil, PreProcess, &req, &resp)
		L.SetGlobal("event", e.Value())
		if err := L.DoString(`event.request.headers["x-trace-id"] = "t1"`); err != nil {
			t.Fatal(err)
		}
		var names []string
		for k := range req.Header.All() {
			names = append(names, string(k))
		}
		want := "X-Trace-Id"
		if disabled {
			want = "x-trace-id"
		}
		if len(names) != 1 || names[0] != want || string(req.Header.Peek(want)) != "t1" {
			t.Errorf("normalization disabled=%v: header names %v", disabled, names)
		}
		if req.Header.DisableNormalizing() != disabled {
			t.Errorf("the header's normalization setting changed")
		}
		e.Unbind()
	}
}

// A parameter written through event.request.parameters, or merged with SetParameters, reaches
// the query string and the request line, not only QueryArgs.
func TestParameterWritesReachTheQueryString(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	e := NewEvent(L)
	var req fasthttp.Request
	var resp fasthttp.Response
	req.SetRequestURI("/a/%252e?a=1&b=2")
	e.Bind(nil, PreProcess, &req, &resp)
	L.SetGlobal("event", e.Value())
	if err := L.DoString(`
local p = event.request.parameters
p.c = "3 4"
p.a = nil
p.l = { "x", 5 }
assert(p.c == "3 4" and p.b == "2" and p.l == "x,5")`); err != nil {
		t.Fatal(err)
	}
	if got, want := string(req.URI().QueryString()), "b=2&c=3+4&l=x&l=5"; got != want {
		t.Errorf("QueryString %q, want %q", got, want)
	}
	if got, want := string(req.Header.RequestURI()), "/a/%252e?b=2&c=3+4&l=x&l=5"; got != want {
		t.Errorf("the request line %q, want %q (the path as it came)", got, want)
	}
	if err := L.DoString(`event.request.parameters = { only = "1" }`); err != nil {
		t.Fatal(err)
	}
	if got := string(req.Header.RequestURI()); got != "/a/%252e?only=1" {
		t.Errorf("after assigning the table: %q", got)
	}
	e.Unbind()

	tb := L.NewTable()
	tb.RawSetString("f", lua.LString("x y"))
	tb.RawSetString("n", lua.LNumber(2))
	if err := SetParameters(&req, "options.parameters", tb); err != nil {
		t.Fatal(err)
	}
	if got := string(req.URI().QueryString()); got != "only=1&f=x+y&n=2" && got != "only=1&n=2&f=x+y" {
		t.Errorf("SetParameters: %q", got)
	}
	tb.RawSetString("bad", lua.LTrue)
	if err := SetParameters(&req, "options.parameters", tb); err == nil || !strings.Contains(err.Error(), `options.parameters["bad"] must be a string`) {
		t.Errorf("a boolean parameter: %v", err)
	}
}
