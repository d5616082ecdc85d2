package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/valyala/fasthttp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// The edge service run as a user would: built with go build, configured by its environment,
// stopped with SIGTERM. Everything it talks to is real and on loopback: the audit service its
// queued script calls, an OTLP/HTTP collector.

// build builds the command into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edge")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// lockedBuilder is a strings.Builder the process writes while the test reads it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a running edge process.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	logs   *lockedBuilder
	exited chan error
}

// start runs bin with env (NAME=value) and waits until it serves; it is killed if the test
// ends with it still running.
func start(t *testing.T, bin string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &lockedBuilder{}, exited: make(chan error, 1)}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if addr, ok := strings.CutPrefix(s.Text(), "listening on "); ok {
				line <- addr
			}
		}
		p.exited <- cmd.Wait() // after stdout is read to its end
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case p.addr = <-line:
		return p
	case err := <-p.exited:
		t.Fatalf("the edge exited before it served (%v):\n%s", err, p.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the edge did not start:\n%s", p.logs.String())
	}
	return nil
}

// waitLog waits (a generous deadline) until the process has logged a line holding text.
func (p *proc) waitLog(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.logs.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", text, p.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	if err := fasthttp.DoTimeout(req, resp, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body())
}

// audit is the audit service on loopback: it keeps each call's body, and answers only once
// released, so the test decides when the queued script's work can finish.
type audit struct {
	addr    string
	arrived chan struct{} // closed by the first call
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	bodies  []map[string]any
}

func startAudit(t *testing.T) *audit {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &audit{addr: ln.Addr().String(), arrived: make(chan struct{}), release: make(chan struct{})}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var body map[string]any
		_ = json.Unmarshal(ctx.PostBody(), &body)
		a.once.Do(func() { close(a.arrived) })
		<-a.release
		a.mu.Lock()
		a.bodies = append(a.bodies, body)
		a.mu.Unlock()
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() {
		select {
		case <-a.release:
		default:
			close(a.release)
		}
		_ = srv.Shutdown()
	})
	return a
}

// collector is an OTLP/HTTP traces endpoint on loopback that keeps the names of the spans it
// is sent.
type collector struct {
	addr  string
	mu    sync.Mutex
	names map[string]int
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: ln.Addr().String(), names: map[string]int{}}
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
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					c.names[sp.Name]++
				}
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

// The edge service configured from its environment answers through its embedded scripts,
// counts their failures with its OnError hook, serves Prometheus metrics, and on SIGTERM stops
// taking requests, finishes the queued script that is still working (its audit call waits
// until the test has seen the shutdown begin), flushes its spans and exits 0.
func TestEdgeEndToEnd(t *testing.T) {
	edgeEndToEnd(t, "", "queued_done=2")
}

// The same with EDGE_REDIS_URL: the queued events are published to Redis and run by the
// process's own consumers; Close waits for the one they are running (an event they had not
// taken yet stays on Redis for another instance: the refused order's, here, perhaps).
func TestEdgeEndToEndRedis(t *testing.T) {
	edgeEndToEnd(t, redistest.Start(t).URL(), "queued_published=2")
}

// edgeEndToEnd runs the service with redisURL ("" for none); drained is what its last log line
// must say of the queued events.
func edgeEndToEnd(t *testing.T, redisURL, drained string) {
	bin := build(t)
	aud := startAudit(t)
	col := startCollector(t)
	p := start(t, bin, "EDGE_LISTEN=127.0.0.1:0", "EDGE_PREFIX=/api", "EDGE_AUDIT_URL=http://"+aud.addr+"/audit",
		"EDGE_OTLP_URL=http://"+col.addr, "EDGE_SHUTDOWN_TIMEOUT=60s", "EDGE_REDIS_URL="+redisURL)
	base := "http://" + p.addr

	status, body := do(t, "POST", base+"/api/orders", `{"item":"book"}`)
	if status != 201 || !strings.Contains(body, `"id":1`) {
		t.Fatalf("POST: %d %s", status, body)
	}
	if status, body = do(t, "GET", base+"/api/orders/1", ""); status != 200 || !strings.Contains(body, `"item":"book"`) {
		t.Fatalf("GET: %d %s", status, body)
	}
	if status, body = do(t, "GET", base+"/api/orders/abc", ""); status != 400 || !strings.Contains(body, "must be a number") {
		t.Fatalf("a bad id: %d %s", status, body)
	}
	if status, body = do(t, "POST", base+"/api/orders", `{}`); status != 422 || !strings.Contains(body, "item is required") {
		t.Fatalf("no item: %d %s", status, body)
	}
	status, metrics := do(t, "GET", base+"/metrics", "")
	for _, want := range []string{`edge_script_failures_total{kind="raised"} 2`, `fastlua_script_metric_order_reads_total 1`,
		`fastlua_script_runs_total{script="orders.{id}.get.pre_process"} 2`} {
		if status != 200 || !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %q:\n%s", want, metrics)
		}
	}
	p.waitLog(t, "edge: script failure")

	// Both POSTs queued an audit (the refused one returns at once); order 1's is in its call now.
	// SIGTERM, and only once the server has stopped and Close has begun may the call finish:
	// Close must wait for it, and the process exit 0 after.
	select {
	case <-aud.arrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("the queued audit never called:\n%s", p.logs.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "edge: server stopped, draining queued work")
	select {
	case err := <-p.exited:
		t.Fatalf("the edge exited (%v) before its queued work finished:\n%s", err, p.logs.String())
	default:
	}
	close(aud.release)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("the edge exited with %v:\n%s", err, p.logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the edge did not stop:\n%s", p.logs.String())
	}

	logs := p.logs.String()
	if sent, drained := strings.Index(logs, "audit sent"), strings.Index(logs, "queued work drained"); sent < 0 || drained < sent {
		t.Errorf("the queued audit did not finish before Close returned:\n%s", logs)
	}
	for _, want := range []string{"audit sent", "edge: stopped, queued work drained", drained, "queued_failed=0",
		`kind=raised script=orders.{id}.get.pre_process`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs have no %q:\n%s", want, logs)
		}
	}
	aud.mu.Lock()
	if len(aud.bodies) != 1 || aud.bodies[0]["order"] != float64(1) || aud.bodies[0]["item"] != "book" {
		t.Errorf("the audit service got %v", aud.bodies)
	}
	aud.mu.Unlock()
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, name := range []string{"fastlua POST", "fastlua queued", "orders.post.queued", "orders.{id}.get.pre_process"} {
		if col.names[name] == 0 {
			t.Errorf("no span %q exported (got %v)", name, col.names)
		}
	}
}

// A bad variable stops the service at start with a message naming it.
func TestEdgeBadEnvironment(t *testing.T) {
	bin := build(t)
	for env, want := range map[string]string{
		"EDGE_SHUTDOWN_TIMEOUT=soon":   "EDGE_SHUTDOWN_TIMEOUT",
		"EDGE_OTLP_URL=collector:4318": "EDGE_OTLP_URL",
		"EDGE_AUDIT_URL=ftp://x":       "EDGE_AUDIT_URL",
		"EDGE_REDIS_URL=mysql://x":     "EDGE_REDIS_URL",
	} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "EDGE_LISTEN=127.0.0.1:0", env)
		out, err := cmd.CombinedOutput()
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v\n%s", env, err, out)
		}
	}
}
