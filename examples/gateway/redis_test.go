package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/valyala/fasthttp"
)

// okUpstream answers every request with 200 and stops when the test ends.
func okUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func scriptDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Two gateways sharing one Redis enforce one rate limit: the request over the limit is refused
// whichever instance it reaches.
func TestTwoGatewaysShareARateLimit(t *testing.T) {
	redis := redistest.Start(t)
	up := okUpstream(t)
	dir := scriptDir(t, map[string]string{"api.{rest...}.{verb}.pre_process.lua": `
local n = platform.store.incr("rl:" .. (event.request.headers["x-api-key"] or "anon"), 1, 60)
if n > 3 then error({ status_code = 429, message = "Too Many Requests" }) end`})
	bin := buildGateway(t)
	a := startGateway(t, bin, "-upstream", up, "-scripts", dir, "-redis", redis.URL())
	b := startGateway(t, bin, "-upstream", up, "-scripts", dir, "-redis", redis.URL())
	want := []int{200, 200, 200, 429, 429, 429}
	for i, w := range want {
		addr := []string{a, b}[i%2]
		if status, body, _ := get(t, "GET", "http://"+addr+"/api/x", "", "X-Api-Key", "k1"); status != w {
			t.Fatalf("request %d (to %s): %d %s, want %d", i+1, addr, status, body, w)
		}
	}
	if status, _, _ := get(t, "GET", "http://"+b+"/api/x", "", "X-Api-Key", "k2"); status != 200 {
		t.Fatalf("another key: %d", status)
	}
}

// A consumer killed while its script runs: another instance claims the event and completes
// it, so every accepted event runs at least once; with nothing killed, each runs once.
func TestKilledConsumer(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	up := okUpstream(t)
	queued := func(name string) string {
		return fmt.Sprintf(`
local id = event.queue_id
platform.store.incr("started:" .. id, 1)
platform.store.set("by:" .. id, %q)
local t = os.clock()
while os.clock() - t < tonumber(event.request.parameters.work or "0") do end
platform.store.set("done:" .. id, %q)
platform.store.incr("done", 1)`, name, name)
	}
	dirA := scriptDir(t, map[string]string{"jobs.x.get.queued.lua": queued("a")})
	dirB := scriptDir(t, map[string]string{"jobs.x.get.queued.lua": queued("b")})
	bin := buildGateway(t)
	args := []string{"-upstream", up, "-redis", srv.URL(), "-redis-claim-idle", "2s", "-time-limit", "10s"}
	a := startGatewayProc(t, bin, append(args, "-scripts", dirA)...)
	b := startGatewayProc(t, bin, append(args, "-scripts", dirB)...)
	ctx := context.Background()
	key := func(k string) string { return rdb.Get(ctx, "fastlua:store:"+k).Val() }

	// Six slow events; wait until b is inside one, then kill b.
	for i := 0; i < 6; i++ {
		if status, body, _ := get(t, "GET", "http://"+a.addr+"/jobs/x?work=0.8", ""); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	var victim string
	deadline := time.Now().Add(20 * time.Second)
	for victim == "" {
		for _, k := range rdb.Keys(ctx, "fastlua:store:by:*").Val() {
			id := strings.TrimPrefix(k, "fastlua:store:by:")
			if rdb.Get(ctx, k).Val() == "s:b" && key("done:"+id) == "" {
				victim = id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never took an event:\n%s", b.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.kill()

	deadline = time.Now().Add(60 * time.Second)
	for {
		done := rdb.Keys(ctx, "fastlua:store:done:*").Val()
		if len(done) == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 6 events completed:\n%s", len(done), a.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if by := key("done:" + victim); by != "s:a" {
		t.Fatalf("the event b was running when it died was completed by %q", by)
	}
	if n := key("started:" + victim); n != "2" {
		t.Fatalf("the event b was running was started %s times, want 2", n)
	}

	// Nothing killed now: ten more events run once each.
	before := key("done")
	for i := 0; i < 10; i++ {
		get(t, "GET", "http://"+a.addr+"/jobs/x", "")
	}
	deadline = time.Now().Add(30 * time.Second)
	for key("done") != fmt.Sprint(mustInt(t, before)+10) {
		if time.Now().After(deadline) {
			t.Fatalf("done = %s, want %d", key("done"), mustInt(t, before)+10)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if got := key("done"); got != fmt.Sprint(mustInt(t, before)+10) {
		t.Fatalf("done = %s after settling, want %d: an event ran twice", got, mustInt(t, before)+10)
	}
}

func mustInt(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
