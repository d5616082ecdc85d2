package fastlua

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// scriptsFrom reads every <pattern>.lua file of a testdata directory as a Script.
func scriptsFrom(t testing.TB, dir string) []Script {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.lua"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/%s: %v", dir, err)
	}
	var out []Script
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Script{Name: strings.TrimSuffix(filepath.Base(f), ".lua"), Source: string(src)})
	}
	return out
}

// luaFile reads one testdata file as the source of a Script named name.
func luaFile(t testing.TB, name, file string) Script {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return Script{Name: name, Source: string(src)}
}

// seen is what the echo handler received.
type seen struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   map[string]string `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Length  int               `json:"content_length"`
}

// echo answers with a JSON record of the request it received, and counts its calls.
type echo struct {
	mu    sync.Mutex
	calls int
	last  seen
}

func (e *echo) handle(ctx *fasthttp.RequestCtx) {
	s := seen{
		Method:  string(ctx.Method()),
		Path:    string(ctx.Path()),
		Query:   map[string]string{},
		Headers: map[string]string{},
		Body:    string(ctx.PostBody()),
		Length:  ctx.Request.Header.ContentLength(),
	}
	for k, v := range ctx.QueryArgs().All() {
		s.Query[string(k)] = string(v)
	}
	for k, v := range ctx.Request.Header.All() {
		s.Headers[strings.ToLower(string(k))] = string(v)
	}
	e.mu.Lock()
	e.calls++
	e.last = s
	e.mu.Unlock()
	ctx.Response.Header.Set("X-Handler", "echo")
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(s)
	ctx.SetBody(b)
}

func (e *echo) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

func (e *echo) lastSeen() seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// testServer is a fasthttp server on 127.0.0.1 serving a handler wrapped by the middleware.
type testServer struct {
	t      testing.TB
	mw     *Middleware
	addr   string
	client *fasthttp.Client
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts a server for cfg around handler; it stops when the test ends.
func serve(t testing.TB, cfg Config, handler fasthttp.RequestHandler) *testServer {
	t.Helper()
	return serveWrapped(t, cfg, handler, nil)
}

// serveWrapped is serve with outer, when not nil, wrapped around the middleware, as a middleware
// earlier in the chain would be.
func serveWrapped(t testing.TB, cfg Config, handler fasthttp.RequestHandler, outer func(fasthttp.RequestHandler) fasthttp.RequestHandler) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	mw, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(handler)
	if cfg.QueueBackend != nil {
		if err := mw.Consume(handler); err != nil {
			t.Fatalf("Consume: %v", err)
		}
	}
	if outer != nil {
		h = outer(h)
	}
	ts := &testServer{t: t, mw: mw, addr: ln.Addr().String(), logs: logs,
		client: &fasthttp.Client{MaxConnsPerHost: 512, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mw.Close(ctx)
	})
	// Registered after the middleware's cleanup, so it runs first: the server stops, then Close.
	serveOn(t, &fasthttp.Server{Handler: h}, ln)
	return ts
}

// response is what a test request got back.
type response struct {
	status  int
	headers map[string]string
	body    string
}

// json decodes the body into a generic value.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.body)
	}
	return v
}

// errorMessage returns error.message of DreamFactory's error body, checking the shape.
func (r response) errorMessage(t testing.TB) string {
	t.Helper()
	v := r.json(t)
	e, ok := v["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	if code, _ := e["code"].(float64); int(code) != r.status {
		t.Fatalf("error.code %v differs from the status %d", e["code"], r.status)
	}
	msg, _ := e["message"].(string)
	return msg
}

// do sends a request; headers are name, value pairs.
func (ts *testServer) do(method, path, body string, headers ...string) response {
	ts.t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + ts.addr + path)
	req.Header.SetMethod(method)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if body != "" {
		req.SetBodyString(body)
		if len(req.Header.ContentType()) == 0 || bytes.HasPrefix(req.Header.ContentType(), []byte("application/x-www-form")) {
			req.Header.SetContentType("application/json")
		}
	}
	if err := ts.client.Do(req, resp); err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	r := response{status: resp.StatusCode(), headers: map[string]string{}, body: string(resp.Body())}
	for k, v := range resp.Header.All() {
		r.headers[strings.ToLower(string(k))] = string(v)
	}
	return r
}

// serveOn serves srv on ln until the test ends. The cleanup stops the server and closes ln
// itself: fasthttp's Shutdown closes only the listeners Serve has registered, so a test that ends
// before the goroutine reached Serve would otherwise wait for it forever.
func serveOn(t testing.TB, srv *fasthttp.Server, ln net.Listener) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		_ = ln.Close()
		<-done
	})
}

// loadChunk compiles src as gopher-lua alone does, in st's sandbox globals, for benchmarks that
// call it again and again.
func loadChunk(tb testing.TB, st *state, src string) *lua.LFunction {
	tb.Helper()
	fn, err := st.L.LoadString(src)
	if err != nil {
		tb.Fatal(err)
	}
	fn.Env = st.G
	return fn
}
