package fastlua

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strconv"
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
	srv := &fasthttp.Server{Handler: mw.Wrap(handler), MaxRequestBodySize: 64 << 20}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mw.Close(ctx)
	})
	return &testServer{t: t, mw: mw, addr: ln.Addr().String(), logs: &syncBuffer{},
		client: &fasthttp.Client{ReadTimeout: time.Minute, WriteTimeout: time.Minute}}
}

// bigArray is the JSON text [1,2,3,4,"s5",...] of n elements.
func bigArray(n int) []byte {
	b := make([]byte, 0, n*8)
	b = append(b, '[')
	for i := 1; i <= n; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		if i%5 == 0 {
			b = append(b, `"s`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, '"')
		} else {
			b = strconv.AppendInt(b, int64(i), 10)
		}
	}
	return append(b, ']')
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

// A JSON array longer than gopher-lua's array part (2^20-1 elements once New has run) that a
// script only reads reaches the handler (or the client) byte for byte; one element changed,
// in either part of the table, it is re-encoded as an array of the same length.
func TestLargeArrayBodies(t *testing.T) {
	const n = 1_100_000
	text := bigArray(n)
	rec := &recorder{}
	ts := serveLarge(t, Config{TimeLimit: time.Minute, Scripts: scriptsFrom(t, "bodies")}, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		if ctx.IsPost() {
			rec.record(ctx)
			ctx.SetBodyString(`{"ok":true}`)
			return
		}
		ctx.SetBody(text)
	})
	checkArray := func(what string, got []byte, changed int) {
		t.Helper()
		var list []any
		if err := json.Unmarshal(got, &list); err != nil {
			t.Fatalf("%s: not a JSON array (%v): %.60s", what, err, got)
		}
		if len(list) != n {
			t.Fatalf("%s: %d elements, want %d", what, len(list), n)
		}
		for i, want := range []any{float64(1), "s5", float64(1048576), "s1100000"} {
			idx := []int{1, 5, 1048576, n}[i]
			if idx == changed {
				want = "changed"
			}
			if list[idx-1] != want {
				t.Fatalf("%s: element %d = %v, want %v", what, idx, list[idx-1], want)
			}
		}
	}

	// The request payload.
	r := ts.do("POST", "/big/array?n=1100000", string(text))
	body, _, length, headers := rec.last()
	if r.status != 200 || headers["x-last"] != "s1100000" {
		t.Fatalf("read: %d %s, x-last %q", r.status, r.body, headers["x-last"])
	}
	if !bytes.Equal(body, text) || length != len(text) {
		t.Fatalf("a payload the script only read reached the handler changed: %d bytes (Content-Length %d), sent %d: %.40s", len(body), length, len(text), body)
	}
	for _, i := range []int{3, 1048576, n} {
		r := ts.do("POST", "/big/array?n=1100000&change="+strconv.Itoa(i), string(text))
		body, _, length, _ := rec.last()
		if r.status != 200 || length != len(body) {
			t.Fatalf("change %d: %d %s, Content-Length %d for %d bytes", i, r.status, r.body, length, len(body))
		}
		checkArray("the payload with element "+strconv.Itoa(i)+" changed", body, i)
	}

	// The response content.
	r = ts.do("GET", "/big/array?n=1100000", "")
	if r.status != 200 || r.headers["x-last"] != "s1100000" {
		t.Fatalf("read: %d %.80s, x-last %q", r.status, r.body, r.headers["x-last"])
	}
	if r.body != string(text) {
		t.Fatalf("content the script only read reached the client changed: %d bytes, sent %d: %.40s", len(r.body), len(text), r.body)
	}
	for _, i := range []int{3, 1048576, n} {
		r := ts.do("GET", "/big/array?n=1100000&change="+strconv.Itoa(i), "")
		if r.status != 200 {
			t.Fatalf("change %d: %d %.200s", i, r.status, r.body)
		}
		checkArray("the content with element "+strconv.Itoa(i)+" changed", []byte(r.body), i)
	}
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
