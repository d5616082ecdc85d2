package bridge

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

func TestParseCoding(t *testing.T) {
	for in, want := range map[string]coding{
		"": codingIdentity, "identity": codingIdentity, " IDENTITY ": codingIdentity,
		"gzip": codingGzip, "GZip": codingGzip, "x-gzip": codingGzip, " gzip\t": codingGzip,
		"deflate": codingDeflate, "br": codingBrotli, "BR": codingBrotli, "zstd": codingZstd,
		"compress": codingOther, "gzip, br": codingOther, "gzipx": codingOther,
	} {
		if got := parseCoding([]byte(in)); got != want {
			t.Errorf("parseCoding(%q) = %d, want %d", in, got, want)
		}
	}
}

// runOn binds a fresh event to req and resp for phase and runs src as one script.
func runOn(t *testing.T, L *lua.LState, phase Phase, req *fasthttp.Request, resp *fasthttp.Response, maxJSON int, src string) error {
	t.Helper()
	e := NewEvent(L)
	e.SetMaxJSON(maxJSON)
	e.Bind(nil, phase, req, resp)
	defer e.Unbind()
	L.SetGlobal("event", e.Value())
	e.BeginScript(false)
	if err := L.DoString(src); err != nil {
		e.AbortScript()
		return err
	}
	return e.EndScript()
}

// The edges of compressed bodies: an empty one reads as empty, writing an empty body or one in a
// coding fastlua cannot produce drops Content-Encoding, and a changed body is compressed again.
func TestCompressedBodyEdges(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	gzipped := func(s string) []byte { return fasthttp.AppendGzipBytes(nil, []byte(s)) }

	var req fasthttp.Request
	var resp fasthttp.Response
	req.Header.Set("Content-Encoding", "gzip")
	if err := runOn(t, L, PreProcess, &req, &resp, 0, `assert(event.request.payload == nil and event.request.content == "")`); err != nil {
		t.Fatalf("an empty body with Content-Encoding: %v", err)
	}

	req.Header.SetContentType("application/json")
	req.SetBody(gzipped(`{"a":1}`))
	if err := runOn(t, L, PreProcess, &req, &resp, 0, `assert(event.request.payload.a == 1); event.request.payload = nil`); err != nil {
		t.Fatal(err)
	}
	if len(req.Body()) != 0 || len(req.Header.ContentEncoding()) != 0 || req.Header.ContentLength() != 0 {
		t.Fatalf("payload = nil: body %q, Content-Encoding %q, Content-Length %d", req.Body(), req.Header.ContentEncoding(), req.Header.ContentLength())
	}

	req.Header.Set("Content-Encoding", "compress")
	if err := runOn(t, L, PreProcess, &req, &resp, 0, `event.request.content = "plain"`); err != nil {
		t.Fatal(err)
	}
	if string(req.Body()) != "plain" || len(req.Header.ContentEncoding()) != 0 {
		t.Fatalf("content written over a coding fastlua cannot produce: %q, Content-Encoding %q", req.Body(), req.Header.ContentEncoding())
	}

	req.Header.Set("Content-Encoding", "gzip")
	req.SetBody(gzipped(`{"a":1}`))
	err := runOn(t, L, PreProcess, &req, &resp, 0, `event.request.payload.a = 2; assert(event.request.content == '{"a":2}')`)
	if err != nil {
		t.Fatal(err)
	}
	if text, err := req.BodyGunzip(); err != nil || string(text) != `{"a":2}` || string(req.Header.ContentEncoding()) != "gzip" || req.Header.ContentLength() != len(req.Body()) {
		t.Fatalf("a changed payload: %q (%v), Content-Length %d for %d bytes", text, err, req.Header.ContentLength(), len(req.Body()))
	}

	resp.Header.SetContentType("application/json")
	resp.Header.Set("Content-Encoding", "br")
	resp.SetBody(fasthttp.AppendBrotliBytes(nil, []byte(`{"list":[1,2]}`)))
	if err := runOn(t, L, PostProcess, &req, &resp, 0, `table.insert(event.response.content.list, 3)`); err != nil {
		t.Fatal(err)
	}
	if text, err := resp.BodyUnbrotli(); err != nil || string(text) != `{"list":[1,2,3]}` {
		t.Fatalf("changed content: %q (%v)", text, err)
	}
	if err := runOn(t, L, PostProcess, &req, &resp, 0, `event.response.content = nil`); err != nil {
		t.Fatal(err)
	}
	if len(resp.Body()) != 0 || len(resp.Header.ContentEncoding()) != 0 {
		t.Fatalf("content = nil: %q, Content-Encoding %q", resp.Body(), resp.Header.ContentEncoding())
	}

	// The limit is the event's MaxJSON, and a read-only script's in-place change is still found.
	resp.Header.Set("Content-Encoding", "zstd")
	resp.SetBody(fasthttp.AppendZstdBytes(nil, []byte(`{"pad":"`+strings.Repeat("x", 2000)+`"}`)))
	err = runOn(t, L, PostProcess, &req, &resp, 1000, `local c = event.response.content`)
	if err == nil || !strings.Contains(err.Error(), "event.response.content: the zstd body decompresses to more than 1000 bytes (Config.MaxJSONSize)") {
		t.Fatalf("past the limit: %v", err)
	}
	e := NewEvent(L)
	e.Bind(nil, PostProcess, &req, &resp)
	L.SetGlobal("event", e.Value())
	e.BeginScript(true)
	if err := L.DoString(`event.response.content.pad = "y"`); err != nil {
		t.Fatal(err)
	}
	if err := e.EndScript(); err == nil || !strings.Contains(err.Error(), "allow_event_modification") {
		t.Fatalf("a read-only script's change: %v", err)
	}
	e.Unbind()
}
