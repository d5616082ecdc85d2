//go:build soak

package fastlua

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// go test -tags soak -run TestSoak -soak.duration 10m -timeout 0 .
var soakDuration = flag.Duration("soak.duration", 10*time.Second, "how long TestSoak loads the server")

// TestSoak runs a real server under 256 concurrent connections, with scripts that are 80%
// normal, 10% raising errors, 5% hitting the time limit and 5% queued, then checks that every
// response had the status its script implies, that the goroutines come back to their number
// before the test, that the heap after a GC stays within 1.2 times its size after warm-up, and
// that every accepted queued event ran.
func TestSoak(t *testing.T) {
	startFasthttpGlobals(t)
	startGoroutines := runtime.NumGoroutine()
	store := NewMemoryStore()
	mw, err := New(Config{
		// Only the slow script may time out (its own 10ms): the others, and a request waiting
		// for a state or for room in the queue, get margins a loaded machine cannot use up.
		TimeLimit: 30 * time.Second, PoolTimeout: 30 * time.Second,
		Store:     store,
		QueueSize: 1 << 16, QueueFull: QueueBlock, QueueWait: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
		Scripts: []Script{
			{Name: "soak.normal.{verb}.pre_process", Source: `
local r = event.request
r.headers["x-seen"] = r.headers["x-id"]
if type(r.payload) == "table" then r.payload.stamped = true end`},
			{Name: "soak.normal.{verb}.post_process", Source: `
local c = event.response.content
if type(c) == "table" then c.post = event.request.headers["x-id"] end`},
			{Name: "soak.error.get.pre_process", Source: `error({ status_code = 422, message = "refused " .. event.request.headers["x-id"] })`},
			{Name: "soak.slow.get.pre_process", Source: `while true do end`, TimeLimit: 10 * time.Millisecond},
			{Name: "soak.queued.get.queued", Source: `platform.store.incr("queued", 1)`},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: mw.Wrap(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true,"id":"` + string(ctx.Request.Header.Peek("X-Seen")) + `"}`)
	}), Concurrency: 4096}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	addr := ln.Addr().String()
	client := &fasthttp.Client{MaxConnsPerHost: 256, ReadTimeout: time.Minute, WriteTimeout: time.Minute}

	var sent, bad atomic.Int64
	var firstBad atomic.Value
	load := func(d time.Duration) {
		stop := time.Now().Add(d)
		var wg sync.WaitGroup
		for g := 0; g < 256; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for i := 0; time.Now().Before(stop); i++ {
					id := fmt.Sprintf("%d-%d", g, i)
					kind := "normal"
					switch (g + i) % 20 {
					case 0, 1:
						kind = "error"
					case 2:
						kind = "slow"
					case 3:
						kind = "queued"
					}
					req.Reset()
					req.SetRequestURI("http://" + addr + "/soak/" + kind)
					req.Header.Set("X-Id", id)
					if kind == "normal" && i%2 == 0 {
						req.Header.SetMethod("POST")
						req.Header.SetContentType("application/json")
						req.SetBodyString(`{"n":` + fmt.Sprint(i) + `}`)
					}
					if err := client.Do(req, resp); err != nil {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, "transport: "+err.Error())
						continue
					}
					sent.Add(1)
					body := string(resp.Body())
					ok := false
					switch kind {
					case "normal":
						ok = resp.StatusCode() == 200 && strings.Contains(body, `"id":"`+id+`"`) && strings.Contains(body, `"post":"`+id+`"`)
					case "error":
						ok = resp.StatusCode() == 422 && body == `{"error":{"code":422,"message":"refused `+id+`"}}`
					case "slow":
						ok = resp.StatusCode() == 500 && strings.Contains(body, "exceeded its time limit of 10ms")
					case "queued":
						ok = resp.StatusCode() == 200
					}
					if !ok {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, fmt.Sprintf("%s %s: %d %s", kind, id, resp.StatusCode(), body))
					}
				}
			}(g)
		}
		wg.Wait()
	}

	warm := max(2*time.Second, min(*soakDuration/5, 10*time.Second)) // until the pool has its working size
	load(warm)
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapAlloc

	load(*soakDuration)

	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d requests in %v (+%v warm-up), %.0f/s; heap after GC %d KiB, %d KiB after warm-up",
		sent.Load(), *soakDuration, warm, float64(sent.Load())/(*soakDuration+warm).Seconds(), ms.HeapAlloc>>10, baseline>>10)
	if n := bad.Load(); n > 0 {
		t.Errorf("%d responses were not what their script implies; first: %v", n, firstBad.Load())
	}
	if float64(ms.HeapAlloc) > 1.2*float64(baseline) {
		t.Errorf("the heap grew from %d KiB after warm-up to %d KiB", baseline>>10, ms.HeapAlloc>>10)
	}

	_ = srv.Shutdown()
	<-served
	client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	q := mw.queue
	ran, _, _ := store.Get(context.Background(), "queued")
	t.Logf("queued: accepted %d, done %d, dropped %d, ran %v", q.accepted.Load(), q.done.Load(), q.dropped.Load(), ran)
	if ranN, _ := ran.(float64); uint64(ranN) != q.accepted.Load() || q.accepted.Load() == 0 {
		t.Errorf("%v queued scripts ran, %d were accepted", ran, q.accepted.Load())
	}

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > startGoroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines remain, %d before the test:\n%s", runtime.NumGoroutine(), startGoroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startFasthttpGlobals makes fasthttp start the goroutines it keeps for the whole process (the
// dialer's address cache cleaner, the server's date updater), so that they are not counted as
// leaks.
func startFasthttpGlobals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(*fasthttp.RequestCtx) {}}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	c := &fasthttp.Client{}
	_, _, _ = c.Get(nil, "http://"+ln.Addr().String()+"/")
	c.CloseIdleConnections()
	_ = srv.Shutdown()
	<-done
	time.Sleep(100 * time.Millisecond)
}
