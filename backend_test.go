package fastlua

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// chanBackend is a QueueBackend in memory: events go through a channel; a released event is
// sent again after its backoff, with the next attempt number, and a dead-lettered one is kept.
type chanBackend struct {
	ch   chan chanEntry
	down atomic.Bool
	mu   sync.Mutex
	n    int
	// Every outcome that was not an acknowledgement, in order; the dead-lettered entries.
	outcomes []Outcome
	dead     []chanEntry
}

type chanEntry struct {
	id, event string
	attempt   int
}

func newChanBackend() *chanBackend { return &chanBackend{ch: make(chan chanEntry, 100)} }

func (b *chanBackend) Publish(ctx context.Context, ev []byte) error {
	if b.down.Load() {
		return errors.New("backend down")
	}
	b.mu.Lock()
	b.n++
	id := fmt.Sprintf("%d-0", b.n)
	b.mu.Unlock()
	b.ch <- chanEntry{id: id, event: string(ev), attempt: 1}
	return nil
}

func (b *chanBackend) Consume(ctx context.Context, handle func(Delivery) Outcome) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-b.ch:
			out := handle(Delivery{ID: e.id, Event: []byte(e.event), Attempt: e.attempt})
			if out.Action == DeliveryAck {
				continue
			}
			b.mu.Lock()
			b.outcomes = append(b.outcomes, out)
			if out.Action == DeliveryDeadLetter {
				b.dead = append(b.dead, e)
			}
			b.mu.Unlock()
			if out.Action == DeliveryRetry {
				e.attempt++
				time.AfterFunc(out.After, func() { b.ch <- e })
			}
		}
	}
}

func (b *chanBackend) outcomesSoFar() []Outcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.outcomes)
}

func (b *chanBackend) deadLettered() []chanEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.dead)
}

// publishOnly is a backend's publishing side: its Consume takes nothing.
type publishOnly struct{ QueueBackend }

func (p publishOnly) Consume(ctx context.Context, _ func(Delivery) Outcome) error {
	<-ctx.Done()
	return nil
}

func TestQueueBackend(t *testing.T) {
	store := NewMemoryStore()
	backend := newChanBackend()
	h := &echo{}
	ts := serve(t, Config{Store: store, QueueBackend: backend,
		Session: func(ctx *fasthttp.RequestCtx) any { return map[string]any{"user": "ada", "roles": []string{"a", "b"}} },
		Scripts: []Script{
			{Name: "b.{item}.post.queued", Source: `
platform.store.set("seen", {
  id = event.queue_id, name = event.name, item = event.params.item, method = event.request.method,
  body = event.request.payload.n, header = event.request.headers["x-h"], status = event.response.status_code,
  content = event.response.content.method, user = platform.session.user, role2 = platform.session.roles[2],
  uri = event.request.uri,
})`},
		}}, h.handle)
	if r := ts.do("POST", "/b/thing?q=1", `{"n":7}`, "X-H", "hv"); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	waitFor(t, "the delivered event", func() bool { _, ok, _ := store.Get(context.Background(), "seen"); return ok })
	v, _, _ := store.Get(context.Background(), "seen")
	want := `{"body":7,"content":"POST","header":"hv","id":"1-0","item":"thing","method":"POST","name":"b.thing.post.queued","role2":"b","status":200,"uri":"/b/thing?q=1","user":"ada"}`
	if string(v.(JSON)) != want {
		t.Fatalf("the consumed event:\n%s\nwant\n%s", v, want)
	}
	if st := ts.mw.Stats().Queue; st.Published != 1 || st.Delivered != 1 || st.Fallbacks != 0 {
		t.Fatalf("stats %+v", st)
	}

	// The backend down: FallbackLocal runs the event here, with a local id.
	backend.down.Store(true)
	ts.do("POST", "/b/other", `{"n":8}`)
	waitFor(t, "the local run", func() bool {
		v, _, _ := store.Get(context.Background(), "seen")
		return strings.Contains(string(v.(JSON)), `"item":"other"`)
	})
	if v, _, _ := store.Get(context.Background(), "seen"); !strings.Contains(string(v.(JSON)), `"id":"local-`) {
		t.Fatalf("fallback run: %s", v)
	}
	if st := ts.mw.Stats().Queue; st.Fallbacks != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestQueueBackendKeepsTheRequestID: an event consumed from a backend runs with the id its
// request had, one made for it included (not in its headers), as an event run in process does.
func TestQueueBackendKeepsTheRequestID(t *testing.T) {
	store := NewMemoryStore()
	ts := serve(t, Config{Store: store, QueueBackend: newChanBackend(), Scripts: []Script{
		{Name: "r.post.pre_process", Source: `platform.store.set("pre", event.request.id)`},
		{Name: "r.post.queued", Source: `platform.store.set("queued", event.request.id)`},
	}}, (&echo{}).handle)
	if r := ts.do("POST", "/r", `{}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	waitFor(t, "the delivered event", func() bool { _, ok, _ := store.Get(context.Background(), "queued"); return ok })
	pre, _, _ := store.Get(context.Background(), "pre")
	queued, _, _ := store.Get(context.Background(), "queued")
	if p, q := fmt.Sprint(pre), fmt.Sprint(queued); p != q || len(p) < 4 {
		t.Fatalf("the request's id %s, the queued run's %s", pre, queued)
	}
}

func TestQueueBackendFallbackDrop(t *testing.T) {
	store := NewMemoryStore()
	backend := newChanBackend()
	backend.down.Store(true)
	h := &echo{}
	ts := serve(t, Config{Store: store, QueueBackend: backend, QueueFallback: FallbackDrop,
		Scripts: []Script{{Name: "d.x.get.queued", Source: `platform.store.incr("ran", 1)`}}}, h.handle)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if r := ts.do("GET", "/d/x", ""); r.status != 200 {
			t.Fatalf("%d", r.status)
		}
	}
	if time.Since(start) > time.Second {
		t.Fatal("responses waited for the backend")
	}
	waitFor(t, "the drops", func() bool { return ts.mw.Stats().Queue.Fallbacks == 3 })
	if n := storeNumber(store, "ran"); n != 0 || ts.mw.Stats().Queue.Failed != 3 {
		t.Fatalf("ran %v, stats %+v", n, ts.mw.Stats().Queue)
	}
	if !strings.Contains(ts.logs.String(), "FallbackDrop") {
		t.Fatal("the drops were not logged")
	}
}

// A consumer with no queued script for an event never acknowledges it: it releases it with a
// doubling backoff, and at Config.QueueMaxAttempts dead-letters it, logged and counted.
func TestQueueBackendRetryThenDeadLetter(t *testing.T) {
	backend := newChanBackend()
	store := NewMemoryStore()
	pub := serve(t, Config{Store: store, QueueBackend: publishOnly{backend},
		Scripts: []Script{{Name: "r.x.get.queued", Source: `platform.store.incr("ran", 1)`}}}, (&echo{}).handle)
	consumer := serve(t, Config{Store: store, QueueBackend: backend, QueueMaxAttempts: 4, QueueRetryDelay: time.Millisecond,
		Scripts: []Script{{Name: "other.x.get.queued", Source: `platform.store.incr("other", 1)`}}}, (&echo{}).handle)
	if r := pub.do("GET", "/r/x", ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	waitFor(t, "the dead letter", func() bool { return len(backend.deadLettered()) == 1 })
	outcomes := backend.outcomesSoFar()
	want := []Outcome{{Action: DeliveryRetry, After: time.Millisecond}, {Action: DeliveryRetry, After: 2 * time.Millisecond},
		{Action: DeliveryRetry, After: 4 * time.Millisecond},
		{Action: DeliveryDeadLetter, Reason: "no consumer had its queued scripts (r.x.get.queued missing here) in 4 attempts (Config.QueueMaxAttempts)"}}
	if !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes %+v\nwant %+v", outcomes, want)
	}
	if d := backend.deadLettered()[0]; d.id != "1-0" || d.attempt != 4 {
		t.Fatalf("dead-lettered %+v", d)
	}
	if st := consumer.mw.Stats().Queue; st.Retried != 3 || st.DeadLettered != 1 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	if logs := consumer.logs.String(); !strings.Contains(logs, "queued event dead-lettered") || !strings.Contains(logs, "request=\"GET /r/x\"") {
		t.Fatalf("the dead letter was not logged:\n%s", logs)
	}
	if n := storeNumber(store, "ran"); n != 0 {
		t.Fatalf("ran %v times", n)
	}
}

// An event that arrives before its script is installed here runs once it is (a rollout).
func TestQueueBackendScriptInstalledLater(t *testing.T) {
	backend := newChanBackend()
	store := NewMemoryStore()
	script := Script{Name: "late.x.get.queued", Source: `platform.store.incr("ran:" .. event.queue_id, 1)`}
	pub := serve(t, Config{Store: store, QueueBackend: publishOnly{backend}, Scripts: []Script{script}}, (&echo{}).handle)
	consumer := serve(t, Config{Store: store, QueueBackend: backend, QueueRetryDelay: 5 * time.Millisecond}, (&echo{}).handle)
	pub.do("GET", "/late/x", "")
	waitFor(t, "a release", func() bool { return consumer.mw.Stats().Queue.Retried >= 1 })
	if err := consumer.mw.Set(script); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run", func() bool { return storeNumber(store, "ran:1-0") == 1 })
	if st := consumer.mw.Stats().Queue; st.Delivered != 1 || st.DeadLettered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A queued script that runs and fails is done: logged and counted, not delivered again. An event
// that cannot be read is dead-lettered at once.
func TestQueueBackendFailuresAreNotRetried(t *testing.T) {
	backend := newChanBackend()
	ts := serve(t, Config{QueueBackend: backend, Scripts: []Script{{Name: "f.x.get.queued", Source: `error("no")`}}}, (&echo{}).handle)
	ts.do("GET", "/f/x", "")
	waitFor(t, "the failed run", func() bool { return ts.mw.Stats().Queue.Failed == 1 })
	if err := backend.Publish(context.Background(), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unreadable event", func() bool { return len(backend.deadLettered()) == 1 })
	outcomes := backend.outcomesSoFar()
	if len(outcomes) != 1 || !strings.HasPrefix(outcomes[0].Reason, "the event cannot be read: ") {
		t.Fatalf("outcomes %+v", outcomes)
	}
	if st := ts.mw.Stats().Queue; st.Delivered != 1 || st.Failed != 1 || st.Retried != 0 || st.DeadLettered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetryDelay(t *testing.T) {
	for _, c := range []struct {
		base    time.Duration
		attempt int
		want    time.Duration
	}{
		{time.Second, 1, time.Second}, {time.Second, 2, 2 * time.Second}, {time.Second, 5, 16 * time.Second},
		{time.Second, 6, 30 * time.Second}, {time.Second, 1000, 30 * time.Second},
		{time.Minute, 3, time.Minute}, {10 * time.Millisecond, 0, 10 * time.Millisecond},
	} {
		if got := retryDelay(c.base, c.attempt); got != c.want {
			t.Errorf("retryDelay(%v, %d) = %v, want %v", c.base, c.attempt, got, c.want)
		}
	}
}

// An event delivered more often than Config.QueueMaxAttempts (its consumers kept stopping while
// they ran it) is dead-lettered rather than run again.
func TestQueueBackendPoisonEvent(t *testing.T) {
	captured := newChanBackend()
	script := Script{Name: "p.x.get.queued", Source: `platform.store.incr("ran", 1)`}
	pub := serve(t, Config{QueueBackend: publishOnly{captured}, Scripts: []Script{script}}, (&echo{}).handle)
	pub.do("GET", "/p/x", "")
	e := <-captured.ch
	store := NewMemoryStore()
	backend := newChanBackend()
	ts := serve(t, Config{Store: store, QueueBackend: backend, QueueMaxAttempts: 3, Scripts: []Script{script}}, (&echo{}).handle)
	e.attempt = 3
	backend.ch <- e
	waitFor(t, "the run", func() bool { return storeNumber(store, "ran") == 1 })
	e.attempt = 4
	backend.ch <- e
	waitFor(t, "the dead letter", func() bool { return len(backend.deadLettered()) == 1 })
	if st := ts.mw.Stats().Queue; st.Delivered != 1 || st.DeadLettered != 1 || storeNumber(store, "ran") != 1 {
		t.Fatalf("stats %+v", st)
	}
	if r := backend.outcomesSoFar()[0].Reason; !strings.Contains(r, "delivered 4 times, more than Config.QueueMaxAttempts") {
		t.Fatalf("reason %q", r)
	}
}

// A record published before records named their scripts (no "scripts" field) runs the queued
// scripts that match it here, as it did then.
func TestQueueBackendRecordWithoutScripts(t *testing.T) {
	store := NewMemoryStore()
	backend := newChanBackend()
	ts := serve(t, Config{Store: store, QueueBackend: backend,
		Scripts: []Script{{Name: "o.x.get.queued", Source: `platform.store.incr("ran", 1)`}}}, (&echo{}).handle)
	old := `{"method":"GET","uri":"/o/x","host":"","headers":null,"status":200,"response_headers":null,"accepted":1}`
	if err := backend.Publish(context.Background(), []byte(old)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run", func() bool { return storeNumber(store, "ran") == 1 })
	if st := ts.mw.Stats().Queue; st.Delivered != 1 || st.Retried != 0 {
		t.Fatalf("stats %+v", st)
	}
}
