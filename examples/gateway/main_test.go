package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// buildGateway builds the command once per test binary.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// gatewayProc is a running gateway process.
type gatewayProc struct {
	cmd    *exec.Cmd
	addr   string
	logs   *lockedBuilder
	killed bool
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

// kill ends the process at once, as a crash would.
func (g *gatewayProc) kill() {
	g.killed = true
	_ = g.cmd.Process.Kill()
}

// startGateway runs the gateway as a process and returns its address; it is stopped (with
// SIGINT, as a user would) when the test ends.
func startGateway(t *testing.T, bin string, args ...string) string {
	return startGatewayProc(t, bin, args...).addr
}

func startGatewayProc(t *testing.T, bin string, args ...string) *gatewayProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	g := &gatewayProc{cmd: cmd, logs: &lockedBuilder{}}
	cmd.Stderr = g.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.killed {
			_ = cmd.Wait()
			return
		}
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the gateway exited with %v:\n%s", err, g.logs.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the gateway did not stop on SIGINT")
		}
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if addr, ok := strings.CutPrefix(s.Text(), "listening on "); ok {
				line <- addr
			}
		}
	}()
	select {
	case g.addr = <-line:
		return g
	case <-time.After(20 * time.Second):
		t.Fatalf("the gateway did not start:\n%s", g.logs.String())
		return nil
	}
}

func get(t *testing.T, method, url, body string, headers ...string) (int, string, *fasthttp.ResponseHeader) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body()), &resp.Header
}

func TestGateway(t *testing.T) {
	// The upstream: any HTTP API; this one echoes what it received.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upstream := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		b, _ := json.Marshal(map[string]any{
			"path": string(ctx.Path()), "query": string(ctx.QueryArgs().QueryString()), "method": string(ctx.Method()),
			"tenant": string(ctx.Request.Header.Peek("X-Tenant")), "body": string(ctx.PostBody()),
			"forwarded": string(ctx.Request.Header.Peek("X-Forwarded-For")),
		})
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}}
	go upstream.Serve(ln)
	defer upstream.Shutdown()

	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shop.{rest...}.{verb}.pre_process.lua", `
local key = event.request.headers["x-api-key"]
if key ~= "k1" then error({ status_code = 401, message = "unknown key" }) end
event.request.headers["x-tenant"] = "tenant-of-" .. key
event.response.headers["x-served-for"] = key`)
	write("shop.orders.get.post_process.lua", `event.response.content.gateway = "fastlua"`)

	bin := buildGateway(t)
	addr := startGateway(t, bin, "-upstream", "http://"+ln.Addr().String(), "-scripts", dir, "-prefix", "/api", "-admin-token", "adm")
	base := "http://" + addr

	if status, body, _ := get(t, "GET", base+"/api/shop/orders", ""); status != 401 || !strings.Contains(body, "unknown key") {
		t.Fatalf("without a key: %d %s", status, body)
	}
	status, body, h := get(t, "GET", base+"/api/shop/orders?page=2", "", "X-Api-Key", "k1")
	var v map[string]any
	_ = json.Unmarshal([]byte(body), &v)
	if status != 200 || v["tenant"] != "tenant-of-k1" || v["gateway"] != "fastlua" || v["path"] != "/api/shop/orders" ||
		v["query"] != "page=2" || v["forwarded"] != "127.0.0.1" {
		t.Fatalf("scripted proxying: %d %s", status, body)
	}
	// A header the pre_process script set on the response survives the upstream's answer.
	if got := string(h.Peek("X-Served-For")); got != "k1" || !strings.HasPrefix(string(h.ContentType()), "application/json") {
		t.Fatalf("response headers: x-served-for %q, content-type %q", got, h.ContentType())
	}
	// Outside the prefix: passed through untouched.
	if status, body, _ := get(t, "POST", base+"/health", `{"x":1}`); status != 200 || !strings.Contains(body, `"body":"{\"x\":1}"`) {
		t.Fatalf("pass-through: %d %s", status, body)
	}
	// A path that normalizes into the scripted area is scripted, and forwarded normalized.
	if status, body, _ := get(t, "GET", base+"/api/other/../shop/orders", ""); status != 401 {
		t.Fatalf("a dot-dot path escaped the scripts: %d %s", status, body)
	}

	// The admin API writes a script into the watched directory; it runs at once.
	rec := `{"name":"shop.orders.get.post_process","content":"event.response.content.gateway = \"admin\"","type":"lua"}`
	if status, body, _ := get(t, "POST", base+"/_fastlua/event_script", rec, "Authorization", "Bearer adm"); status != 201 {
		t.Fatalf("admin: %d %s", status, body)
	}
	if status, _, _ := get(t, "GET", base+"/_fastlua/event_script", "", "Authorization", "Bearer nope"); status != 401 {
		t.Fatalf("admin with a bad token: %d", status)
	}
	if _, body, _ := get(t, "GET", base+"/api/shop/orders", "", "X-Api-Key", "k1"); !strings.Contains(body, `"gateway":"admin"`) {
		t.Fatalf("after the admin change: %s", body)
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, "shop.orders.get.post_process.lua"))
	if !strings.Contains(string(onDisk), `"admin"`) {
		t.Fatalf("the admin change is not in the directory: %s", onDisk)
	}

	// A file dropped into the directory takes effect within a second.
	write("shop.items.get.post_process.lua", `event.response.headers["x-hot"] = "yes"`)
	deadline := time.Now().Add(time.Second)
	for {
		_, _, h := get(t, "GET", base+"/api/shop/items", "", "X-Api-Key", "k1")
		if string(h.Peek("X-Hot")) == "yes" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a new script file was not live within a second")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Metrics.
	if status, body, _ := get(t, "GET", base+"/metrics", ""); status != 200 ||
		!strings.Contains(body, `fastlua_script_runs_total{script="shop.{rest...}.{verb}.pre_process"}`) {
		t.Fatalf("metrics: %d %s", status, body)
	}

	// The upstream down: 502 in DreamFactory's error shape.
	upstream.Shutdown()
	if status, body, _ := get(t, "GET", base+"/api/shop/orders", "", "X-Api-Key", "k1"); status != 502 || !strings.Contains(body, `"code":502`) {
		t.Fatalf("upstream down: %d %s", status, body)
	}
}

// -h prints the usage and exits 0: asking for help is not an error (it exited 1 with "flag:
// help requested"). A bad flag still exits 1.
func TestHelpExitsZero(t *testing.T) {
	bin := buildGateway(t)
	for _, arg := range []string{"-h", "-help", "--help"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-session-url") || strings.Contains(string(out), "help requested") {
			t.Errorf("gateway %s: %v\n%s", arg, err, out)
		}
	}
	out, err := exec.Command(bin, "-no-such-flag").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "no-such-flag") {
		t.Errorf("a bad flag: %v\n%s", err, out)
	}
}
