package fastlua

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Large bodies through Wrap: JSON arrays past gopher-lua's array part, bodies past MaxJSONSize,
// read and changed by the scripts in testdata/bodies/big.*, with a real server and client.

// serveLarge is serve with the server's body limit raised to 64 MiB, and a client that waits
// a minute for an answer: the large-array tests move bodies of about 8 MB.
func serveLarge(t *testing.T, cfg Config, handler fasthttp.RequestHandler) *testServer {
	t.Helper()
	mw, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mw.Close(ctx)
	})
	// Registered after the middleware's cleanup, so it runs first: the server stops, then Close.
	serveOn(t, &fasthttp.Server{Handler: mw.Wrap(handler), MaxRequestBodySize: 64 << 20}, ln)
	return &testServer{t: t, mw: mw, addr: ln.Addr().String(), logs: &syncBuffer{},
		client: &fasthttp.Client{ReadTimeout: time.Minute, WriteTimeout: time.Minute}}
}

// recorder is a handler that keeps what it last received and answers with what it was given.
type recorder struct {
	mu       sync.Mutex
	body     []byte // the request body, as received
	encoding string // its Content-Encoding
	length   int    // its Content-Length
	headers  map[string]string
}

func (rec *recorder) record(ctx *fasthttp.RequestCtx) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.body = append(rec.body[:0], ctx.Request.Body()...)
	rec.encoding = string(ctx.Request.Header.ContentEncoding())
	rec.length = ctx.Request.Header.ContentLength()
	rec.headers = map[string]string{}
	for k, v := range ctx.Request.Header.All() {
		rec.headers[strings.ToLower(string(k))] = string(v)
	}
}

func (rec *recorder) last() (body []byte, encoding string, length int, headers map[string]string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return bytes.Clone(rec.body), rec.encoding, rec.length, rec.headers
}

// A body larger than Config.MaxJSONSize that a script only reads is not re-encoded, so the limit
// does not apply to it: it reaches the handler byte for byte, with a duplicate name too (whose
// decoded table does not describe the text, so the bridge compares it with its normal form).
func TestUnchangedBodyPastMaxJSONSize(t *testing.T) {
	rec := &recorder{}
	ts := serveLarge(t, Config{MaxJSONSize: 1024, Scripts: scriptsFrom(t, "bodies")}, func(ctx *fasthttp.RequestCtx) {
		rec.record(ctx)
	})
	pad := strings.Repeat("p", 4096)
	for _, doc := range []string{`{"a":1,"pad":"` + pad + `"}`, `{"a":1,"a":2,"pad":"` + pad + `"}`} {
		r := ts.do("POST", "/big/array?n=1", doc)
		body, _, _, _ := rec.last()
		if r.status != 200 || string(body) != doc {
			t.Fatalf("%.20s...: %d %s; the handler got %.40s", doc, r.status, r.body, body)
		}
	}
}
