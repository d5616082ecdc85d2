package main

import (
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is a real OTLP/HTTP traces endpoint on loopback that keeps the spans it is sent.
type collector struct {
	addr  string
	mu    sync.Mutex
	spans []*tracepb.Span
	paths []string
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.paths = append(c.paths, r.URL.Path)
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

// stop ends the process with SIGINT, as a user would, and waits for it to exit.
func (g *gatewayProc) stop(t *testing.T) {
	t.Helper()
	g.killed = true // the cleanup only reaps it
	_ = g.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the gateway exited with %v:\n%s", err, g.logs.String())
		}
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		t.Fatalf("the gateway did not stop on SIGINT:\n%s", g.logs.String())
	}
}

// With -otlp the gateway exports a span per request, phase and script to the collector (the
// batch is flushed when it stops), parented on the client's traceparent, and the upstream call
// carries the request's span.
func TestGatewayOTLP(t *testing.T) {
	bin := buildGateway(t)
	col := startCollector(t)
	var mu sync.Mutex
	var upstreamParent string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		upstreamParent = string(ctx.Request.Header.Peek("traceparent"))
		mu.Unlock()
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go up.Serve(ln)
	t.Cleanup(func() { _ = up.Shutdown() })
	dir := scriptDir(t, map[string]string{"shop.orders.get.pre_process.lua": `event.request.headers["x-checked"] = "yes"`})
	g := startGatewayProc(t, bin, "-upstream", "http://"+ln.Addr().String(), "-scripts", dir, "-otlp", "http://"+col.addr)

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if status, body, _ := get(t, "GET", "http://"+g.addr+"/shop/orders", "", "traceparent", "00-"+clientTrace+"-"+clientSpan+"-01"); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	g.stop(t) // flushes the batch

	col.mu.Lock()
	defer col.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, sp := range col.spans {
		byName[sp.Name] = sp
	}
	req, phase, script := byName["fastlua GET"], byName["fastlua pre_process"], byName["shop.orders.get.pre_process"]
	if req == nil || phase == nil || script == nil {
		t.Fatalf("spans %v, want the request's, the phase's and the script's", byName)
	}
	if col.paths[0] != "/v1/traces" {
		t.Errorf("exported to %q, want /v1/traces", col.paths[0])
	}
	id := hex.EncodeToString
	if id(req.TraceId) != clientTrace || id(req.ParentSpanId) != clientSpan {
		t.Errorf("request span in trace %s under %s, want %s under %s", id(req.TraceId), id(req.ParentSpanId), clientTrace, clientSpan)
	}
	if id(phase.ParentSpanId) != id(req.SpanId) || id(script.ParentSpanId) != id(phase.SpanId) {
		t.Errorf("the phase and script spans are not nested in the request's")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "00-" + clientTrace + "-" + id(req.SpanId) + "-01"; upstreamParent != want {
		t.Errorf("the upstream got traceparent %q, want %q", upstreamParent, want)
	}
	if strings.Contains(g.logs.String(), "could not be exported") {
		t.Errorf("export failed:\n%s", g.logs.String())
	}
}

// A bad -otlp URL is refused at start.
func TestGatewayOTLPBadURL(t *testing.T) {
	err := run([]string{"-upstream", "http://127.0.0.1:1", "-otlp", "collector:4318"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-otlp") {
		t.Fatalf("run: %v", err)
	}
}
