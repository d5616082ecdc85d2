package fastlua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func storeNumber(s *MemoryStore, key string) float64 {
	v, _, _ := s.Get(context.Background(), key)
	n, _ := v.(float64)
	return n
}

// Queued scripts run after the response with a copy of the event, and never delay it.
func TestQueuedScripts(t *testing.T) {
	store := NewMemoryStore()
	h := &echo{}
	ts := serve(t, Config{Store: store, Scripts: scriptsFrom(t, "queued"),
		Session: func(ctx *fasthttp.RequestCtx) any { return map[string]string{"name": "ada"} }}, h.handle)

	r := ts.do("POST", "/q/orders", `{"id":"body-1"}`, "X-Id", "r1")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	waitFor(t, "the queued script", func() bool { return storeNumber(store, "queued:count") == 1 })
	v, _, _ := store.Get(context.Background(), "seen:r1")
	seen := string(v.(JSON))
	want := `{"kind":"orders","name":"q.orders.post.queued","payload_id":"body-1","response_id":"r1","status":200,"user":"ada"}`
	if seen != want {
		t.Fatalf("the queued script saw\n%s\nwant\n%s", seen, want)
	}

	// A slow queued script does not hold the response back.
	start := time.Now()
	if r := ts.do("GET", "/slow/x", ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Fatalf("the response waited %v for a 200 ms queued script", d)
	}
	waitFor(t, "the slow queued script", func() bool { return storeNumber(store, "slow:done") == 1 })
}

// Many concurrent requests while queued scripts read their copies: each saw its own request.
// Under -race this also shows the copies share nothing with fasthttp's reused objects.
func TestQueuedCopiesUnderLoad(t *testing.T) {
	store := NewMemoryStore()
	h := &echo{}
	ts := serve(t, Config{Store: store, Scripts: scriptsFrom(t, "queued"), QueueSize: 4096}, h.handle)
	const goroutines, each = 16, 40
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("%d-%d", g, i)
				ts.do("POST", "/q/k"+fmt.Sprint(g%3), fmt.Sprintf(`{"id":"body-%s"}`, id), "X-Id", id)
			}
		}(g)
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ts.mw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storeNumber(store, "queued:count"); n != goroutines*each {
		t.Fatalf("%v queued scripts ran, want %d", n, goroutines*each)
	}
	for g := 0; g < goroutines; g++ {
		for i := 0; i < each; i++ {
			id := fmt.Sprintf("%d-%d", g, i)
			v, ok, _ := store.Get(context.Background(), "seen:"+id)
			if !ok {
				t.Fatalf("no record for %s", id)
			}
			s := string(v.(JSON))
			if !strings.Contains(s, `"payload_id":"body-`+id+`"`) || !strings.Contains(s, `"response_id":"`+id+`"`) ||
				!strings.Contains(s, fmt.Sprintf(`"kind":"k%d"`, g%3)) {
				t.Fatalf("%s saw another request: %s", id, s)
			}
		}
	}
}

// 10,000 events queued under load: after Close every accepted one has run.
func TestQueueDrainsOnClose(t *testing.T) {
	store := NewMemoryStore()
	h := &echo{}
	ts := serve(t, Config{Store: store, QueueSize: 256, QueueFull: QueueBlock, QueueWait: 10 * time.Second, QueueWorkers: 2,
		Scripts: []Script{luaFile(t, "count.x.get.queued", "queued/count.x.get.queued.lua")}}, h.handle)
	const total = 10000
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/20; i++ {
				if r := ts.do("GET", "/count/x", ""); r.status != 200 {
					t.Errorf("%d %s", r.status, r.body)
					return
				}
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ts.mw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	q := ts.mw.queue
	if q.accepted.Load() != total || q.done.Load() != total || q.dropped.Load() != 0 {
		t.Fatalf("accepted %d, done %d, dropped %d", q.accepted.Load(), q.done.Load(), q.dropped.Load())
	}
	if n := storeNumber(store, "count:done"); n != total {
		t.Fatalf("%v queued scripts ran, want %d", n, total)
	}
}

// A full queue with QueueDrop drops, logs and counts, and responses are not delayed.
func TestQueueOverflowDrops(t *testing.T) {
	store := NewMemoryStore()
	h := &echo{}
	ts := serve(t, Config{Store: store, QueueSize: 1, QueueWorkers: 1,
		Scripts: []Script{luaFile(t, "slow.x.get.queued", "queued/slow.x.get.queued.lua")}}, h.handle)
	start := time.Now()
	for i := 0; i < 6; i++ {
		if r := ts.do("GET", "/slow/x", ""); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("requests waited %v for a full queue with QueueDrop", d)
	}
	q := ts.mw.queue
	if q.dropped.Load() == 0 || q.accepted.Load()+q.dropped.Load() != 6 {
		t.Fatalf("accepted %d, dropped %d", q.accepted.Load(), q.dropped.Load())
	}
	if !strings.Contains(ts.logs.String(), "queued event dropped") {
		t.Fatal("a drop was not logged")
	}
}

// Close with a deadline too short for the queue reports the events it could not run.
func TestCloseReportsUnrunEvents(t *testing.T) {
	store := NewMemoryStore()
	h := &echo{}
	ts := serve(t, Config{Store: store, QueueSize: 100, QueueWorkers: 1,
		Scripts: []Script{luaFile(t, "slow.x.get.queued", "queued/slow.x.get.queued.lua")}}, h.handle)
	for i := 0; i < 10; i++ {
		ts.do("GET", "/slow/x", "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := ts.mw.Close(ctx)
	if !errors.Is(err, ErrQueueClosed) {
		t.Fatalf("Close = %v, want ErrQueueClosed", err)
	}
	q := ts.mw.queue
	ran := storeNumber(store, "slow:done")
	if ran+float64(q.failed.Load()) != 10 || !strings.Contains(err.Error(), fmt.Sprint(q.failed.Load())) {
		t.Fatalf("ran %v, reported %d, error %v", ran, q.failed.Load(), err)
	}
	// It says which: the request and its scripts.
	if !strings.Contains(err.Error(), fmt.Sprintf("when the deadline passed: %d × GET /slow/x (slow.x.get.queued)", q.failed.Load())) {
		t.Fatalf("Close's error does not name the events: %v", err)
	}
	if !strings.Contains(ts.logs.String(), "queued event not run") {
		t.Fatal("the events that did not run were not logged")
	}
	// After Close, requests that match scripts are refused.
	if r := ts.do("GET", "/slow/x", ""); r.status != 503 {
		t.Fatalf("after Close: %d %s", r.status, r.body)
	}
}

// Close while requests are in flight: they finish normally, a request that arrives afterwards
// is refused with 503, and every queued event they produced runs.
func TestCloseUnderLoad(t *testing.T) {
	store := NewMemoryStore()
	ts := serve(t, Config{Store: store, Scripts: []Script{
		{Name: "busy.x.get.pre_process", Source: `event.request.headers["x-pre"] = "1"`},
		{Name: "busy.x.get.queued", Source: `platform.store.incr("after", 1)`},
	}}, func(ctx *fasthttp.RequestCtx) { time.Sleep(300 * time.Millisecond) }) // in flight: in the handler
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- ts.do("GET", "/busy/x", "").status
		}()
	}
	time.Sleep(100 * time.Millisecond) // all eight are in the handler
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- ts.mw.Close(ctx)
	}()
	time.Sleep(20 * time.Millisecond)
	if r := ts.do("GET", "/busy/x", ""); r.status != 503 {
		t.Fatalf("a request after Close began: %d %s", r.status, r.body)
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Fatalf("an in-flight request got %d", s)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := storeNumber(store, "after"); n != 8 {
		t.Fatalf("%v of 8 queued events ran", n)
	}
}
