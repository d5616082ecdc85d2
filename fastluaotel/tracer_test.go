package fastluaotel_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluaotel"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// records keeps the log records a Logger wrote, with their attributes.
type records struct {
	mu  sync.Mutex
	got []record
}

type record struct {
	msg   string
	attrs map[string]string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, record{rec.Message, attrs})
	return nil
}

func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }

func (r *records) WithGroup(string) slog.Handler { return r }

// find returns the first record whose message holds msg.
func (r *records) find(msg string) (record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.got {
		if strings.Contains(rec.msg, msg) {
			return rec, true
		}
	}
	return record{}, false
}

// listen serves h on a free 127.0.0.1 port until the test ends.
func listen(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
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
	return ln.Addr().String()
}

// setup is a middleware traced into an in-memory exporter, around a handler that answers the
// in-process inventory call, in front of an upstream on loopback that records the traceparent
// it is sent.
type setup struct {
	exp      *tracetest.InMemoryExporter
	logs     *records
	addr     string
	mu       sync.Mutex
	upstream []string // traceparent of each upstream request
	nested   []string // traceparent of each in-process inventory request the handler got
	handler  []string // the span the handler of each shop request ran in (Match.Span)
}

func newSetup(t *testing.T) *setup {
	s := &setup{exp: tracetest.NewInMemoryExporter(), logs: &records{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(s.exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	up := listen(t, func(ctx *fasthttp.RequestCtx) {
		s.mu.Lock()
		s.upstream = append(s.upstream, string(ctx.Request.Header.Peek("traceparent")))
		s.mu.Unlock()
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"price":12.5}`)
	})
	mw, err := fastlua.New(fastlua.Config{
		ScriptFS:       os.DirFS("testdata"),
		Tracer:         fastluaotel.New(fastluaotel.Config{TracerProvider: tp}),
		Logger:         slog.New(s.logs),
		AllowedHosts:   []string{"127.0.0.1"},
		PlatformConfig: map[string]any{"upstream": "http://" + up},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = mw.Close(ctx)
	})
	s.addr = listen(t, mw.Wrap(func(ctx *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(ctx.Path()), "/inventory/") {
			s.mu.Lock()
			s.nested = append(s.nested, string(ctx.Request.Header.Peek("traceparent")))
			s.mu.Unlock()
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"stock":3}`)
			return
		}
		s.mu.Lock()
		s.handler = append(s.handler, trace.SpanContextFromContext(fastlua.MatchOf(ctx).Span()).SpanID().String())
		s.mu.Unlock()
		ctx.SetContentType("application/json")
		ctx.SetBodyString(fmt.Sprintf(`{"stock":%q,"price":%q}`, ctx.Request.Header.Peek("X-Stock"), ctx.Request.Header.Peek("X-Price")))
	}))
	return s
}

// get sends a request with the headers (name, value pairs) and returns its status and headers.
func (s *setup) get(t *testing.T, path string, headers ...string) (int, *fasthttp.ResponseHeader, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("http://" + s.addr + path)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if err := fasthttp.DoTimeout(req, resp, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), &resp.Header, string(resp.Body())
}

// spans waits (a generous deadline: queued scripts end after the response) until the exporter
// holds a span named last, and returns them all by name.
func (s *setup) spans(t *testing.T, last string) map[string][]tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		byName := map[string][]tracetest.SpanStub{}
		for _, sp := range s.exp.GetSpans() {
			byName[sp.Name] = append(byName[sp.Name], sp)
		}
		if len(byName[last]) > 0 {
			return byName
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %q among %v", last, byName)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// one returns the only span with the name, or fails.
func one(t *testing.T, byName map[string][]tracetest.SpanStub, name string) tracetest.SpanStub {
	t.Helper()
	if n := len(byName[name]); n != 1 {
		t.Fatalf("%d spans %q, want 1", n, name)
	}
	return byName[name][0]
}

// one returns the only span with the name and phase, or fails.
func onePhase(t *testing.T, byName map[string][]tracetest.SpanStub, name, event string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, sp := range byName[name] {
		if attr(sp, "fastlua.event") == event {
			found = append(found, sp)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %q of %s, want 1", len(found), name, event)
	}
	return found[0]
}

func attr(sp tracetest.SpanStub, key string) string {
	for _, kv := range sp.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// wantAttrs checks the span's attributes.
func wantAttrs(t *testing.T, sp tracetest.SpanStub, want ...attribute.KeyValue) {
	t.Helper()
	for _, kv := range want {
		if got := attr(sp, string(kv.Key)); got != kv.Value.Emit() {
			t.Errorf("span %s: %s = %q, want %q (all: %v)", sp.Name, kv.Key, got, kv.Value.Emit(), sp.Attributes)
		}
	}
}

// childOf checks that sp's parent is parent.
func childOf(t *testing.T, sp, parent tracetest.SpanStub) {
	t.Helper()
	if sp.Parent.SpanID() != parent.SpanContext.SpanID() || sp.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("span %s: parent %s, want %s (%s)", sp.Name, sp.Parent.SpanID(), parent.SpanContext.SpanID(), parent.Name)
	}
}

func traceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
}

// The span tree of a request with pre_process, post_process and queued scripts, one of which
// calls another service in process and an upstream over HTTP: parented on the client's
// traceparent, the nested request's spans under the calling script's, the queued phase under
// the request's; the in-process and the outbound request carry the calling script's span; the
// script's log records carry its trace and span id.
func TestSpanTree(t *testing.T) {
	s := newSetup(t)
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	status, h, body := s.get(t, "/shop/orders/7", "traceparent", "00-"+clientTrace+"-"+clientSpan+"-01", "X-Request-Id", "req-7")
	if status != 200 || string(h.Peek("X-Post")) != "done" || body != `{"stock":"3","price":"12.5"}` {
		t.Fatalf("%d %s %s", status, h.Peek("X-Post"), body)
	}
	byName := s.spans(t, "shop.orders.{id}.get.queued")

	req := one(t, byName, "fastlua GET")
	if req.Parent.TraceID().String() != clientTrace || req.Parent.SpanID().String() != clientSpan || !req.Parent.IsRemote() {
		t.Fatalf("request span's parent %v, want the client's %s-%s", req.Parent, clientTrace, clientSpan)
	}
	if req.SpanKind != trace.SpanKindServer {
		t.Errorf("request span kind %v", req.SpanKind)
	}
	wantAttrs(t, req, attribute.String("fastlua.request_id", "req-7"), attribute.String("http.request.method", "GET"),
		attribute.String("url.path", "/shop/orders/7"), attribute.Int("http.response.status_code", 200),
		attribute.String("fastlua.outcome", "ok"))

	pre := onePhase(t, byName, "fastlua pre_process", "shop.orders.7.get.pre_process")
	childOf(t, pre, req)
	wantAttrs(t, pre, attribute.String("fastlua.phase", "pre_process"), attribute.String("fastlua.outcome", "ok"))
	script := one(t, byName, "shop.orders.{id}.get.pre_process")
	childOf(t, script, pre)
	wantAttrs(t, script, attribute.String("fastlua.script", "shop.orders.{id}.get.pre_process"),
		attribute.String("fastlua.event", "shop.orders.7.get.pre_process"), attribute.String("fastlua.phase", "pre_process"),
		attribute.String("fastlua.outcome", "ok"))

	// The in-process call: its phase under the calling script, its script under its phase.
	nestedPhase := onePhase(t, byName, "fastlua pre_process", "inventory.items.7.get.pre_process")
	childOf(t, nestedPhase, script)
	wantAttrs(t, nestedPhase, attribute.Int("fastlua.depth", 1))
	nestedScript := one(t, byName, "inventory.items.{id}.get.pre_process")
	childOf(t, nestedScript, nestedPhase)
	wantAttrs(t, nestedScript, attribute.Int("fastlua.depth", 1), attribute.String("fastlua.outcome", "ok"))

	post := onePhase(t, byName, "fastlua post_process", "shop.orders.7.get.post_process")
	childOf(t, post, req)
	childOf(t, one(t, byName, "shop.orders.{id}.get.post_process"), post)

	// The queued scripts run after the response, from the queued copy of the request.
	queued := one(t, byName, "fastlua queued")
	childOf(t, queued, req)
	childOf(t, one(t, byName, "shop.orders.{id}.get.queued"), queued)

	for _, sp := range s.exp.GetSpans() {
		if sp.Status.Code != codes.Unset {
			t.Errorf("span %s has status %v", sp.Name, sp.Status)
		}
	}

	// The in-process request (to the handler) and the outbound one carry the calling script's span.
	want := traceparent(script.SpanContext)
	s.mu.Lock()
	upstream, nested, handler := s.upstream, s.nested, s.handler
	s.mu.Unlock()
	if len(handler) != 1 || handler[0] != req.SpanContext.SpanID().String() {
		t.Errorf("the handler ran in span %q, want the request's %s", handler, req.SpanContext.SpanID())
	}
	if len(upstream) != 1 || upstream[0] != want {
		t.Errorf("the upstream got traceparent %q, want %q", upstream, want)
	}
	if len(nested) != 1 || nested[0] != want {
		t.Errorf("the in-process request got traceparent %q, want %q", nested, want)
	}

	// Log records carry the trace and the span of the script that wrote them.
	rec, ok := s.logs.find("checking order")
	if !ok {
		t.Fatal("no record of the script's log.info")
	}
	if rec.attrs["trace_id"] != clientTrace || rec.attrs["span_id"] != script.SpanContext.SpanID().String() ||
		rec.attrs["request_id"] != "req-7" || rec.attrs["order"] != "7" {
		t.Errorf("the script's record: %v, want trace %s span %s", rec.attrs, clientTrace, script.SpanContext.SpanID())
	}
	queuedScript := one(t, byName, "shop.orders.{id}.get.queued")
	if rec, ok = s.logs.find("order audited"); !ok || rec.attrs["trace_id"] != clientTrace ||
		rec.attrs["span_id"] != queuedScript.SpanContext.SpanID().String() {
		t.Errorf("the queued script's record: %v (found %v), want span %s", rec.attrs, ok, queuedScript.SpanContext.SpanID())
	}
}

// A script's failure is recorded on its span, its phase's and its request's, with the kind and
// status, status Error, and the middleware's log record of it carries the failed script's span;
// without a traceparent the request starts a trace. An error raised with a 4xx status is the
// script's answer: recorded as an outcome, not as an Error status.
func TestSpanErrors(t *testing.T) {
	s := newSetup(t)
	if status, _, _ := s.get(t, "/shop/broken"); status != 500 {
		t.Fatalf("status %d", status)
	}
	byName := s.spans(t, "fastlua GET")
	req, pre, script := one(t, byName, "fastlua GET"), one(t, byName, "fastlua pre_process"), one(t, byName, "shop.broken.get.pre_process")
	if req.Parent.IsValid() {
		t.Errorf("a request without traceparent: the request span has parent %v", req.Parent)
	}
	childOf(t, pre, req)
	childOf(t, script, pre)
	for _, sp := range []tracetest.SpanStub{req, pre, script} {
		if sp.Status.Code != codes.Error || !strings.Contains(sp.Status.Description, "attempt to index") {
			t.Errorf("span %s: status %v", sp.Name, sp.Status)
		}
		if len(sp.Events) != 1 || sp.Events[0].Name != "exception" {
			t.Errorf("span %s: events %v, want the exception", sp.Name, sp.Events)
		}
		wantAttrs(t, sp, attribute.String("fastlua.outcome", "runtime"), attribute.String("fastlua.error.kind", "runtime"))
	}
	wantAttrs(t, script, attribute.Int("fastlua.status", 500), attribute.Int("fastlua.error.line", 2))
	wantAttrs(t, req, attribute.Int("http.response.status_code", 500))
	rec, ok := s.logs.find("fastlua: script failed")
	if !ok || rec.attrs["span_id"] != script.SpanContext.SpanID().String() || rec.attrs["trace_id"] != script.SpanContext.TraceID().String() {
		t.Errorf("the failure's record: %v (found %v), want span %s", rec.attrs, ok, script.SpanContext.SpanID())
	}

	s.exp.Reset()
	if status, _, _ := s.get(t, "/shop/denied"); status != 403 {
		t.Fatalf("status %d", status)
	}
	byName = s.spans(t, "fastlua GET")
	for _, name := range []string{"fastlua GET", "fastlua pre_process", "shop.denied.get.pre_process"} {
		sp := one(t, byName, name)
		if sp.Status.Code != codes.Unset || len(sp.Events) != 0 {
			t.Errorf("span %s: status %v, events %v", name, sp.Status, sp.Events)
		}
		wantAttrs(t, sp, attribute.String("fastlua.outcome", "raised"), attribute.String("fastlua.error.kind", "raised"))
	}
	wantAttrs(t, one(t, byName, "shop.denied.get.pre_process"), attribute.Int("fastlua.status", 403))
}

// The carrier reads and writes fasthttp's request headers for a propagator.
func TestRequestHeaderCarrier(t *testing.T) {
	var h fasthttp.RequestHeader
	c := fastluaotel.RequestHeaderCarrier{H: &h}
	c.Set("traceparent", "a")
	c.Set("Traceparent", "b")
	if got := c.Get("TRACEPARENT"); got != "b" {
		t.Fatalf("Get: %q", got)
	}
	if keys := c.Keys(); len(keys) != 1 || !strings.EqualFold(keys[0], "traceparent") {
		t.Fatalf("Keys: %q", keys)
	}
}
