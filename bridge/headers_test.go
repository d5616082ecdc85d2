package bridge

import (
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
