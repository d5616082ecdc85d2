package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

func TestStore(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := redisstore.NewStore(rdb, "t:")
	ctx := context.Background()

	for _, v := range []any{"text", "", "42", 42.5, -1e300, true, false, fastlua.JSON(`{"a":[1,2]}`)} {
		if err := s.Set(ctx, "k", v, 0); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Get(ctx, "k")
		if err != nil || !ok || fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", v, v) {
			t.Errorf("round trip of %T %v: %T %v, %v, %v", v, v, got, got, ok, err)
		}
	}
	if _, ok, _ := s.Get(ctx, "missing"); ok {
		t.Error("a missing key was found")
	}
	_ = s.Set(ctx, "short", "x", 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if _, ok, _ := s.Get(ctx, "short"); ok {
		t.Error("an expired key was found")
	}
	_ = s.Delete(ctx, "k")
	if _, ok, _ := s.Get(ctx, "k"); ok {
		t.Error("a deleted key was found")
	}
	_ = s.Set(ctx, "str", "abc", 0)
	if _, err := s.Incr(ctx, "str", 1, 0); !errors.Is(err, fastlua.ErrNotNumber) {
		t.Errorf("incr of a string: %v", err)
	}
	// A fixed window: the ttl is set by the first incr only.
	if n, _ := s.Incr(ctx, "w", 1, 300*time.Millisecond); n != 1 {
		t.Fatal(n)
	}
	time.Sleep(150 * time.Millisecond)
	if n, _ := s.Incr(ctx, "w", 2.5, 300*time.Millisecond); n != 3.5 {
		t.Fatalf("within the window: %v", n)
	}
	time.Sleep(200 * time.Millisecond)
	if n, _ := s.Incr(ctx, "w", 1, 300*time.Millisecond); n != 1 {
		t.Fatalf("after the window: %v", n)
	}
	if ttl := rdb.PTTL(ctx, "t:w").Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("the new window's ttl: %v", ttl)
	}
	// Atomic per key.
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, _ = s.Incr(ctx, "atomic", 1, time.Minute)
			}
		}()
	}
	wg.Wait()
	if v, _, _ := s.Get(ctx, "atomic"); v != 1000.0 {
		t.Fatalf("20x50 concurrent incr = %v", v)
	}
}

// platform.store bounds keys and values before a Redis store is called: nothing over the limits
// reaches Redis.
func TestStoreBoundedInScripts(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	src, err := os.ReadFile("../testdata/store/store.{op}.get.pre_process.lua")
	if err != nil {
		t.Fatal(err)
	}
	mw, err := fastlua.New(fastlua.Config{Store: redisstore.NewStore(rdb, "b:"), MaxStringSize: 64 << 20,
		Logger: slog.New(slog.DiscardHandler), Scripts: []fastlua.Script{{Name: "store.{op}.get.pre_process", Source: string(src)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(context.Background())
	h := mw.Wrap(func(ctx *fasthttp.RequestCtx) {})
	for query, want := range map[string]string{
		"set?key=1024&value=1048576": "",
		"set?key=33554432":           "longer than 1 KiB (Config.MaxStoreKey)",
		"incr?key=2048":              "longer than 1 KiB (Config.MaxStoreKey)",
		"set?key=2&value=1048577":    "larger than 1 MiB (Config.MaxStoreValue)",
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/store/" + query)
		h(&ctx)
		body := string(ctx.Response.Body())
		if want == "" && ctx.Response.StatusCode() != 200 || want != "" && !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want %q", query, ctx.Response.StatusCode(), body, want)
		}
	}
	if keys := rdb.Keys(context.Background(), "*").Val(); len(keys) != 1 || len(keys[0]) != 2+1024 {
		t.Fatalf("keys in Redis: %d", len(keys))
	}
}

// gate holds a backend's consumers until it is opened.
type gate struct {
	fastlua.QueueBackend
	open chan struct{}
}

func (g *gate) Consume(ctx context.Context, handle func(fastlua.Delivery) fastlua.Outcome) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil
	}
	return g.QueueBackend.Consume(ctx, handle)
}

// middleware serves /q/x with a queued script that counts its runs, per queue_id, in Redis.
func middleware(t *testing.T, rdb redis.UniversalClient, backend fastlua.QueueBackend, cfg fastlua.Config) (*fastlua.Middleware, fasthttp.RequestHandler) {
	t.Helper()
	cfg.Store = redisstore.NewStore(rdb, "s:")
	cfg.QueueBackend = backend
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Scripts = []fastlua.Script{{Name: "q.x.get.queued", Source: `
platform.store.incr("runs", 1)
platform.store.incr("run:" .. event.queue_id, 1)`}}
	mw, err := fastlua.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	handler := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }
	if err := mw.Consume(handler); err != nil {
		t.Fatal(err)
	}
	return mw, mw.Wrap(handler)
}

func get(h fasthttp.RequestHandler) int {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/q/x")
	h(&ctx)
	return ctx.Response.StatusCode()
}

func number(t *testing.T, rdb redis.UniversalClient, key string) int {
	n, _ := rdb.Get(context.Background(), key).Int()
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two middlewares share one stream: every accepted event runs exactly once when nothing fails,
// with its stream id as event.queue_id.
func TestQueue(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	stream := redisstore.QueueConfig{Stream: "q:test", Block: 100 * time.Millisecond}
	a, ha := middleware(t, rdb, redisstore.NewQueue(rdb, withConsumer(stream, "a")), fastlua.Config{})
	b, _ := middleware(t, rdb, redisstore.NewQueue(rdb, withConsumer(stream, "b")), fastlua.Config{})
	const n = 200
	for i := 0; i < n; i++ {
		if s := get(ha); s != 200 {
			t.Fatal(s)
		}
	}
	// Acknowledged: each script finished (it counts "runs" first, then its queue_id).
	waitFor(t, "the events", 20*time.Second, func() bool {
		return number(t, rdb, "s:runs") >= n && rdb.XPending(context.Background(), "q:test", "fastlua").Val().Count == 0
	})
	keys := rdb.Keys(context.Background(), "s:run:*").Val()
	if len(keys) != n {
		t.Fatalf("%d distinct queue_ids for %d events", len(keys), n)
	}
	for _, k := range keys {
		if number(t, rdb, k) != 1 {
			t.Fatalf("%s ran %d times", k, number(t, rdb, k))
		}
	}
	for _, mw := range []*fastlua.Middleware{a, b} {
		if err := mw.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := a.Stats().Queue, b.Stats().Queue
	if sa.Published != n || sa.Delivered+sb.Delivered != n {
		t.Fatalf("a: %+v, b: %+v", sa, sb)
	}
	if pending := rdb.XPending(context.Background(), "q:test", "fastlua").Val(); pending.Count != 0 {
		t.Fatalf("%d entries were not acknowledged", pending.Count)
	}
	t.Logf("a delivered %d, b %d", sa.Delivered, sb.Delivered)
}

func withConsumer(c redisstore.QueueConfig, name string) redisstore.QueueConfig {
	c.Consumer = name
	return c
}

// Events queued while Redis restarts (with its append-only file) are not lost.
func TestQueueSurvivesRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	g := &gate{QueueBackend: redisstore.NewQueue(rdb, redisstore.QueueConfig{Stream: "q:restart", Block: 100 * time.Millisecond}), open: make(chan struct{})}
	mw, h := middleware(t, rdb, g, fastlua.Config{})
	const n = 100
	for i := 0; i < n; i++ {
		get(h)
	}
	waitFor(t, "the publishing", 10*time.Second, func() bool { return mw.Stats().Queue.Published == n })
	if l := rdb.XLen(context.Background(), "q:restart").Val(); l != n {
		t.Fatalf("%d entries in the stream, want %d", l, n)
	}
	srv.Restart()
	close(g.open)
	waitFor(t, "the events after the restart", 20*time.Second, func() bool { return number(t, rdb, "s:runs") == n })
	if err := mw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Redis unreachable: responses go out at once, and the fallback is taken and counted.
func TestQueueRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	srv.Stop()
	for _, policy := range []fastlua.FallbackPolicy{fastlua.FallbackLocal, fastlua.FallbackDrop} {
		mem := fastlua.NewMemoryStore()
		mw, err := fastlua.New(fastlua.Config{Store: mem, QueueBackend: redisstore.NewQueue(rdb, redisstore.QueueConfig{}),
			QueueFallback: policy, Logger: slog.New(slog.DiscardHandler), HTTPTimeout: 300 * time.Millisecond,
			Scripts: []fastlua.Script{{Name: "q.x.get.queued", Source: `platform.store.incr("runs", 1)`}}})
		if err != nil {
			t.Fatal(err)
		}
		h := mw.Wrap(func(ctx *fasthttp.RequestCtx) {})
		if err := mw.Consume(func(ctx *fasthttp.RequestCtx) {}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < 5; i++ {
			if s := get(h); s != 200 {
				t.Fatal(s)
			}
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("responses waited %v for Redis", d)
		}
		waitFor(t, "the fallbacks", 10*time.Second, func() bool { return mw.Stats().Queue.Fallbacks == 5 })
		_ = mw.Close(context.Background())
		runs, _, _ := mem.Get(context.Background(), "runs")
		if policy == fastlua.FallbackLocal && runs != 5.0 || policy == fastlua.FallbackDrop && runs != nil {
			t.Fatalf("policy %d: the queued script ran %v times", policy, runs)
		}
	}
}

// A consumer that is alive keeps its entries, however long its scripts run and however many
// entries it has read ahead: only a dead consumer's entries, and released ones, are claimed, so
// with nothing killed each event runs once, while a third consumer (c) releases every entry it
// gets.
func TestQueueSlowEventsRunOnce(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	// A renewal is due every ClaimIdle/3: a margin of 800 ms for a loaded machine (with 300 ms
	// the full suite on two cores saw a live consumer's entries claimed).
	cfg := redisstore.QueueConfig{Stream: "q:slow", Block: 50 * time.Millisecond, ClaimIdle: 1200 * time.Millisecond, Batch: 4}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu   sync.Mutex
		runs = map[string]int{}
		wg   sync.WaitGroup
	)
	handle := func(d fastlua.Delivery) fastlua.Outcome {
		time.Sleep(1300 * time.Millisecond) // longer than ClaimIdle
		mu.Lock()
		runs[d.ID]++
		mu.Unlock()
		return fastlua.Outcome{Action: fastlua.DeliveryAck}
	}
	var released atomic.Int64
	release := func(d fastlua.Delivery) fastlua.Outcome {
		released.Add(1)
		return fastlua.Outcome{Action: fastlua.DeliveryRetry, After: 20 * time.Millisecond}
	}
	for _, name := range []string{"c", "a", "a", "b"} {
		q := redisstore.NewQueue(rdb, withConsumer(cfg, name))
		handle := handle
		if name == "c" {
			handle = release
			for j := 0; j < 12; j++ {
				if err := q.Publish(ctx, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.Consume(ctx, handle); err != nil {
				t.Error(err)
			}
		}()
		if name == "c" {
			waitFor(t, "c's first release", 10*time.Second, func() bool { return released.Load() > 0 })
		}
	}
	total := func() (ids, n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range runs {
			n += c
		}
		return len(runs), n
	}
	waitFor(t, "the events", 20*time.Second, func() bool { ids, _ := total(); return ids == 12 })
	time.Sleep(2 * cfg.ClaimIdle) // a claim of a live consumer's entry would run it again by now
	cancel()
	wg.Wait()
	if ids, n := total(); n != ids || released.Load() == 0 {
		t.Fatalf("%d runs of %d events: %v (%d releases)", n, ids, runs, released.Load())
	}
	if p := rdb.XPending(context.Background(), "q:slow", "fastlua").Val(); p.Count != 0 {
		t.Fatalf("pending after the runs: %+v", p)
	}
}

// Two middlewares share one stream, and only a has the queued script: b never acknowledges an
// event it cannot run but releases it, and a released event is claimable after its backoff
// (a second here), not after ClaimIdle (a minute), so every event runs exactly once, on a, soon.
func TestQueueOnlyOneConsumerHasTheScript(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	stream := redisstore.QueueConfig{Stream: "q:one", Block: 100 * time.Millisecond, ClaimIdle: time.Minute}
	a, ha := middleware(t, rdb, redisstore.NewQueue(rdb, withConsumer(stream, "a")), fastlua.Config{})
	b, err := fastlua.New(fastlua.Config{QueueBackend: redisstore.NewQueue(rdb, withConsumer(stream, "b")),
		Store: redisstore.NewStore(rdb, "s:"), Logger: slog.New(slog.DiscardHandler),
		Scripts: []fastlua.Script{{Name: "other.x.get.queued", Source: `platform.store.incr("other", 1)`}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Consume(func(ctx *fasthttp.RequestCtx) {}); err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := 0; i < n; i++ {
		if s := get(ha); s != 200 {
			t.Fatal(s)
		}
	}
	waitFor(t, "the events", 30*time.Second, func() bool {
		return number(t, rdb, "s:runs") >= n && rdb.XPending(context.Background(), "q:one", "fastlua").Val().Count == 0
	})
	keys := rdb.Keys(context.Background(), "s:run:*").Val()
	if len(keys) != n {
		t.Fatalf("%d distinct queue_ids for %d events", len(keys), n)
	}
	for _, k := range keys {
		if number(t, rdb, k) != 1 {
			t.Fatalf("%s ran %d times", k, number(t, rdb, k))
		}
	}
	for _, mw := range []*fastlua.Middleware{a, b} {
		if err := mw.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := a.Stats().Queue, b.Stats().Queue
	t.Logf("b released %d deliveries", sb.Retried)
	if sa.Delivered != n || sb.Delivered != 0 || sb.Retried == 0 || sa.DeadLettered+sb.DeadLettered != 0 {
		t.Fatalf("a: %+v\nb: %+v", sa, sb)
	}
	if pending := rdb.XPending(context.Background(), "q:one", "fastlua").Val(); pending.Count != 0 {
		t.Fatalf("%d entries were not acknowledged", pending.Count)
	}
	if l := rdb.XLen(context.Background(), "q:one:dead").Val(); l != 0 {
		t.Fatalf("%d dead letters", l)
	}
}

// No consumer has the queued script: each event is delivered QueueMaxAttempts times, then moved
// to the dead-letter stream with its event, reason and attempts, and acknowledged; Stats counts
// it. An entry the stream lost is dead-lettered too, without its event.
func TestQueueDeadLetters(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	stream := redisstore.QueueConfig{Stream: "q:dl", Block: 50 * time.Millisecond, ClaimIdle: time.Minute}
	never := &gate{QueueBackend: redisstore.NewQueue(rdb, withConsumer(stream, "p")), open: make(chan struct{})}
	pub, hp := middleware(t, rdb, never, fastlua.Config{})
	defer pub.Close(ctx)
	const n, attempts = 10, 3
	var consumers []*fastlua.Middleware
	for _, name := range []string{"c1", "c2"} {
		mw, err := fastlua.New(fastlua.Config{QueueBackend: redisstore.NewQueue(rdb, withConsumer(stream, name)),
			QueueMaxAttempts: attempts, QueueRetryDelay: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			err = mw.Consume(func(ctx *fasthttp.RequestCtx) {})
		}
		if err != nil {
			t.Fatal(err)
		}
		consumers = append(consumers, mw)
	}
	for i := 0; i < n; i++ {
		get(hp)
	}
	waitFor(t, "the dead letters", 30*time.Second, func() bool { return rdb.XLen(ctx, "q:dl:dead").Val() == n })
	ids := map[string]bool{}
	for _, m := range rdb.XRange(ctx, "q:dl:dead", "-", "+").Val() {
		v := m.Values
		id, _ := v["id"].(string)
		if ids[id] || !strings.Contains(id, "-") || v["attempts"] != fmt.Sprint(attempts) || v["event"] == nil ||
			v["reason"] != "no consumer had its queued scripts (q.x.get.queued missing here) in 3 attempts (Config.QueueMaxAttempts)" {
			t.Fatalf("a dead letter: %v", v)
		}
		ids[id] = true
	}
	// Dead-lettered is acknowledged: the consumers trim them from the stream.
	waitFor(t, "the trim", 10*time.Second, func() bool { return rdb.XLen(ctx, "q:dl").Val() == 0 })
	if p := rdb.XPending(ctx, "q:dl", "fastlua").Val(); p.Count != 0 {
		t.Fatalf("%d entries still pending", p.Count)
	}
	var dead, retried uint64
	for _, mw := range consumers {
		st := mw.Stats().Queue
		dead, retried = dead+st.DeadLettered, retried+st.Retried
	}
	if dead != n || retried != n*(attempts-1) {
		t.Fatalf("%d dead-lettered, %d retried", dead, retried)
	}

	// An entry deleted from the stream while it was pending.
	get(hp)
	waitFor(t, "a release", 10*time.Second, func() bool {
		var r uint64
		for _, mw := range consumers {
			r += mw.Stats().Queue.Retried
		}
		return r > retried
	})
	last := rdb.XRevRangeN(ctx, "q:dl", "+", "-", 1).Val()[0].ID
	rdb.XDel(ctx, "q:dl", last)
	waitFor(t, "the lost entry's dead letter", 10*time.Second, func() bool { return rdb.XLen(ctx, "q:dl:dead").Val() == n+1 })
	m := rdb.XRevRangeN(ctx, "q:dl:dead", "+", "-", 1).Val()[0].Values
	if m["id"] != last || m["reason"] != "the backend lost the event's data" || m["event"] != nil {
		t.Fatalf("the lost entry's dead letter: %v", m)
	}
	for _, mw := range consumers {
		if err := mw.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A consumer that stops hands back the entries it read ahead and did not start: another takes
// them at once, not after ClaimIdle.
func TestQueueStopReleasesReadAhead(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	cfg := redisstore.QueueConfig{Stream: "q:stop", Block: 50 * time.Millisecond, ClaimIdle: time.Minute}
	first := redisstore.NewQueue(rdb, withConsumer(cfg, "first"))
	for i := 0; i < 5; i++ {
		if err := first.Publish(context.Background(), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	started := make(chan struct{})
	var handled atomic.Int64
	done := make(chan error)
	go func() {
		done <- first.Consume(ctx, func(fastlua.Delivery) fastlua.Outcome {
			if handled.Add(1) == 1 {
				close(started)
				<-ctx.Done() // stopped while it runs
			}
			return fastlua.Outcome{Action: fastlua.DeliveryAck}
		})
	}()
	<-started
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("the stopping consumer handled %d entries", n)
	}
	var (
		mu       sync.Mutex
		attempts []int
	)
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	go redisstore.NewQueue(rdb, withConsumer(cfg, "second")).Consume(ctx2, func(d fastlua.Delivery) fastlua.Outcome {
		mu.Lock()
		attempts = append(attempts, d.Attempt)
		mu.Unlock()
		return fastlua.Outcome{Action: fastlua.DeliveryAck}
	})
	waitFor(t, "the handed-back entries", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(attempts) == 4 })
	mu.Lock()
	defer mu.Unlock()
	for _, a := range attempts {
		if a != 2 {
			t.Fatalf("attempts %v, want 2 each", attempts)
		}
	}
}

// consumer is a middleware on the stream of cfg with the given queued scripts (name: source),
// consuming unless publishOnly, all sharing the store prefix "s:".
func consumer(t *testing.T, rdb redis.UniversalClient, cfg redisstore.QueueConfig, fcfg fastlua.Config, publishOnly bool, scripts ...string) (*fastlua.Middleware, fasthttp.RequestHandler) {
	t.Helper()
	fcfg.Store = redisstore.NewStore(rdb, "s:")
	fcfg.QueueBackend = redisstore.NewQueue(rdb, cfg)
	fcfg.Logger = slog.New(slog.DiscardHandler)
	for i := 0; i+1 < len(scripts); i += 2 {
		fcfg.Scripts = append(fcfg.Scripts, fastlua.Script{Name: scripts[i], Source: scripts[i+1], TimeLimit: 20 * time.Second})
	}
	mw, err := fastlua.New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	handler := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }
	if !publishOnly {
		if err := mw.Consume(handler); err != nil {
			t.Fatal(err)
		}
	}
	return mw, mw.Wrap(handler)
}

// counts is a queued script that counts its runs under name, in all and per queue_id.
func counts(name string) string {
	return fmt.Sprintf(`platform.store.incr(%[1]q, 1); platform.store.incr(%[1]q .. ":" .. event.queue_id, 1)`, name)
}

// Two gateways on one stream, g1 with two queued scripts for /q/x (audit and billing), g2 with
// audit only: an event is acknowledged only once every script that matched where it was
// accepted has run, so g2 releases every event it gets, and each script runs once per event.
func TestQueueEveryMatchedScriptRuns(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	stream := redisstore.QueueConfig{Stream: "q:all", Block: 100 * time.Millisecond, ClaimIdle: time.Minute}
	fcfg := fastlua.Config{QueueRetryDelay: 50 * time.Millisecond}
	g1, h1 := consumer(t, rdb, withConsumer(stream, "g1"), fcfg, false,
		"q.{x}.get.queued", counts("audit"), "q.{y...}.get.queued", counts("billing"))
	g2, _ := consumer(t, rdb, withConsumer(stream, "g2"), fcfg, false, "q.{x}.get.queued", counts("audit"))
	const n = 40
	for i := 0; i < n; i++ {
		if s := get(h1); s != 200 {
			t.Fatal(s)
		}
	}
	waitFor(t, "every script of every event", 30*time.Second, func() bool {
		return number(t, rdb, "s:audit") >= n && number(t, rdb, "s:billing") >= n &&
			rdb.XPending(ctx, "q:all", "fastlua").Val().Count == 0
	})
	for _, mw := range []*fastlua.Middleware{g1, g2} {
		if err := mw.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"audit", "billing"} {
		if got := number(t, rdb, "s:"+name); got != n {
			t.Errorf("%s ran %d times for %d events", name, got, n)
		}
		keys := rdb.Keys(ctx, "s:"+name+":*").Val()
		if len(keys) != n {
			t.Errorf("%s ran for %d distinct queue_ids, want %d", name, len(keys), n)
		}
	}
	s1, s2 := g1.Stats().Queue, g2.Stats().Queue
	if s1.Delivered != n || s2.Delivered != 0 || s2.Retried == 0 || s1.DeadLettered+s2.DeadLettered != 0 {
		t.Fatalf("g1: %+v\ng2: %+v", s1, s2)
	}
	if l := rdb.XLen(ctx, "q:all:dead").Val(); l != 0 {
		t.Fatalf("%d dead letters", l)
	}
}

// A consumer runs the queued scripts that matched where the event was accepted, by name: its own
// version of each (here a different source), and not a script the publisher did not have.
func TestQueueRunsThePublishersScripts(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	stream := redisstore.QueueConfig{Stream: "q:pub", Block: 100 * time.Millisecond, ClaimIdle: time.Minute}
	pub, hp := consumer(t, rdb, withConsumer(stream, "pub"), fastlua.Config{}, true,
		"q.{x}.get.queued", counts("audit"))
	con, _ := consumer(t, rdb, withConsumer(stream, "con"), fastlua.Config{}, false,
		"q.{x}.get.queued", counts("audit2"), "q.x.get.queued", counts("extra"))
	const n = 10
	for i := 0; i < n; i++ {
		if s := get(hp); s != 200 {
			t.Fatal(s)
		}
	}
	waitFor(t, "the events", 30*time.Second, func() bool {
		return number(t, rdb, "s:audit2") >= n && rdb.XPending(ctx, "q:pub", "fastlua").Val().Count == 0
	})
	for _, mw := range []*fastlua.Middleware{pub, con} {
		if err := mw.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a, a2, x := number(t, rdb, "s:audit"), number(t, rdb, "s:audit2"), number(t, rdb, "s:extra"); a != 0 || a2 != n || x != 0 {
		t.Fatalf("the publisher's version ran %d times, the consumer's %d, the consumer's other script %d; want 0, %d, 0", a, a2, x, n)
	}
}

// A delivery whose consumer gets no Lua state, because Close gave up waiting (its deadline
// passed while the only state was busy), did not run: it is released for another consumer, not
// acknowledged.
func TestQueueNoStateIsNotDone(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	stream := redisstore.QueueConfig{Stream: "q:nostate", Block: 50 * time.Millisecond, ClaimIdle: time.Minute, Batch: 1}
	script := `platform.api.get("block"); ` + counts("ran")
	started, unblock := make(chan struct{}, 2), make(chan struct{})
	a, err := fastlua.New(fastlua.Config{Store: redisstore.NewStore(rdb, "s:"),
		QueueBackend: redisstore.NewQueue(rdb, withConsumer(stream, "a")), Logger: slog.New(slog.DiscardHandler),
		MaxStates: 1, QueueConsumers: 2, PoolTimeout: 50 * time.Millisecond,
		Scripts: []fastlua.Script{{Name: "q.x.get.queued", Source: script, TimeLimit: 20 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	ha := a.Wrap(func(ctx *fasthttp.RequestCtx) {})
	if err := a.Consume(func(ctx *fasthttp.RequestCtx) { started <- struct{}{}; <-unblock }); err != nil {
		t.Fatal(err)
	}
	get(ha)
	get(ha)
	<-started // one delivery holds the only state
	waitFor(t, "both deliveries", 10*time.Second, func() bool { return rdb.XPending(ctx, "q:nostate", "fastlua").Val().Count == 2 })
	closed := make(chan error)
	go func() {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		closed <- a.Close(short)
	}()
	// The other delivery is left for b, which runs it; a's runs on, renewed.
	b, _ := consumer(t, rdb, withConsumer(stream, "b"), fastlua.Config{}, false, "q.x.get.queued", counts("ran"))
	waitFor(t, "the delivery a had no state for", 20*time.Second, func() bool { return number(t, rdb, "s:ran") == 1 })
	close(unblock)
	<-closed
	waitFor(t, "both events", 20*time.Second, func() bool { return number(t, rdb, "s:ran") == 2 })
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rdb.Keys(ctx, "s:ran:*").Val()); n != 2 || number(t, rdb, "s:ran") != 2 {
		t.Fatalf("%d runs of %d events", number(t, rdb, "s:ran"), n)
	}
	if p := rdb.XPending(ctx, "q:nostate", "fastlua").Val(); p.Count != 0 {
		t.Fatalf("%d entries still pending", p.Count)
	}
}

// The stream is bounded without losing work: a publish that finds MaxLen entries not yet
// acknowledged is refused (so Config.QueueFallback runs the event here), and entries are
// trimmed only once every consumer group has acknowledged them; consumers trim them.
func TestQueueBoundNeverDropsWork(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	cfg := redisstore.QueueConfig{Stream: "q:bound", Block: 50 * time.Millisecond, MaxLen: 100}
	g := &gate{QueueBackend: redisstore.NewQueue(rdb, cfg), open: make(chan struct{})}
	mw, h := middleware(t, rdb, g, fastlua.Config{})
	const n = 300
	for i := 0; i < n; i++ {
		if s := get(h); s != 200 {
			t.Fatal(s)
		}
	}
	waitFor(t, "the publishing", 20*time.Second, func() bool { st := mw.Stats().Queue; return st.Published+st.Fallbacks == n })
	if st := mw.Stats().Queue; st.Published != 100 || st.Fallbacks != n-100 {
		t.Fatalf("no consumer has read anything: %d published, %d refused; want 100, %d", st.Published, st.Fallbacks, n-100)
	}
	close(g.open) // the consumer runs what was published; the refused ones ran here
	waitFor(t, "every event", 20*time.Second, func() bool { return number(t, rdb, "s:runs") >= n })
	waitFor(t, "the consumer's trim", 20*time.Second, func() bool { return rdb.XLen(ctx, "q:bound").Val() == 0 })
	for i := 0; i < 10; i++ {
		get(h)
	}
	waitFor(t, "the later events", 20*time.Second, func() bool { return number(t, rdb, "s:runs") >= n+10 })
	if err := mw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if runs, ids := number(t, rdb, "s:runs"), len(rdb.Keys(ctx, "s:run:*").Val()); runs != n+10 || ids != n+10 {
		t.Fatalf("%d runs of %d events, want %d", runs, ids, n+10)
	}
	if st := mw.Stats().Queue; st.Published != 110 {
		t.Fatalf("%d published after the trim, want 110", st.Published)
	}
}

// Trimming keeps every entry some group has not acknowledged, and every one after it.
func TestQueueTrimsOnlyAcknowledged(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	q := redisstore.NewQueue(rdb, redisstore.QueueConfig{Stream: "q:trim", MaxLen: 10})
	publish := func(k int) {
		t.Helper()
		for i := 0; i < k; i++ {
			if err := q.Publish(ctx, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	full := func(when string) {
		t.Helper()
		err := q.Publish(ctx, []byte(`{}`))
		if !errors.Is(err, redisstore.ErrStreamFull) || !strings.Contains(err.Error(), "10 entries (QueueConfig.MaxLen)") {
			t.Fatalf("%s: publish: %v, want ErrStreamFull", when, err)
		}
		if l := rdb.XLen(ctx, "q:trim").Val(); l != 10 {
			t.Fatalf("%s: %d entries, want 10", when, l)
		}
	}
	read := func(group string, k int64) []string {
		t.Helper()
		st := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{"q:trim", ">"}, Count: k}).Val()
		var ids []string
		for _, m := range st[0].Messages {
			ids = append(ids, m.ID)
		}
		return ids
	}
	publish(10)
	full("no group")
	rdb.XGroupCreate(ctx, "q:trim", "fastlua", "0")
	full("a group that read nothing")
	ids := read("fastlua", 10)
	rdb.XAck(ctx, "q:trim", "fastlua", ids[1:]...)
	full("the oldest entry pending")
	rdb.XAck(ctx, "q:trim", "fastlua", ids[0])
	publish(1)
	if l := rdb.XLen(ctx, "q:trim").Val(); l != 1 {
		t.Fatalf("after every entry was acknowledged: %d entries, want 1", l)
	}
	rdb.XGroupCreate(ctx, "q:trim", "other", "0")
	publish(9)
	rdb.XAck(ctx, "q:trim", "fastlua", read("fastlua", 10)...)
	full("a second group that read nothing")
	rdb.XAck(ctx, "q:trim", "other", read("other", 5)...)
	publish(1)
	if l := rdb.XLen(ctx, "q:trim").Val(); l != 6 {
		t.Fatalf("after the second group acknowledged 5: %d entries, want 6", l)
	}
}

// A Redis that stops answering (its process paused by SIGSTOP, connections open) holds no Lua
// state past its script's time limit, whether or not the client was made with
// ContextTimeoutEnabled: a store call fails at the script's deadline, the request is answered,
// and the state is free for the next one. A Publish ends at its context's deadline too.
func TestStoreStalledRedisHoldsNoState(t *testing.T) {
	srv := redistest.Start(t)
	for _, contextTimeout := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", contextTimeout), func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: contextTimeout})
			defer rdb.Close()
			if err := rdb.Ping(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			mw, err := fastlua.New(fastlua.Config{Store: redisstore.NewStore(rdb, "s:"), MaxStates: 1,
				Logger: slog.New(slog.DiscardHandler),
				Scripts: []fastlua.Script{{Name: "q.x.get.pre_process", TimeLimit: 200 * time.Millisecond,
					Source: `local ok, err = pcall(platform.store.get, "k")`}}})
			if err != nil {
				t.Fatal(err)
			}
			defer mw.Close(context.Background())
			srv.Pause()
			defer srv.Resume()
			h := mw.Wrap(func(ctx *fasthttp.RequestCtx) {})
			for i := 0; i < 3; i++ {
				start := time.Now()
				var ctx fasthttp.RequestCtx
				ctx.Request.SetRequestURI("/q/x")
				h(&ctx)
				d, body := time.Since(start), string(ctx.Response.Body())
				// The go-redis default ReadTimeout is 3 s: an answer before it is the deadline's.
				if d > 2*time.Second || ctx.Response.StatusCode() != 500 || !strings.Contains(body, "time limit of 200ms") {
					t.Fatalf("request %d: %d %s after %v; want the time-limit error at 200ms", i, ctx.Response.StatusCode(), body, d)
				}
				if p := mw.Stats().Pool; p.Idle != p.Live {
					t.Fatalf("after request %d: %d of %d states busy", i, p.Live-p.Idle, p.Live)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = redisstore.NewQueue(rdb, redisstore.QueueConfig{}).Publish(ctx, []byte(`{}`))
			if d := time.Since(start); err == nil || d > 2*time.Second {
				t.Fatalf("publish: %v after %v", err, d)
			}
			srv.Resume()
		})
	}
}
