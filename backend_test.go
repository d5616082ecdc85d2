package fastlua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// chanBackend is a QueueBackend in memory: events go through a channel and are delivered again
// when their handler fails.
type chanBackend struct {
	ch   chan [2]string
	down atomic.Bool
	mu   sync.Mutex
	n    int
}

func (b *chanBackend) Publish(ctx context.Context, ev []byte) error {
	if b.down.Load() {
		return errors.New("backend down")
	}
	b.mu.Lock()
	b.n++
	id := fmt.Sprintf("%d-0", b.n)
	b.mu.Unlock()
	b.ch <- [2]string{id, string(ev)}
	return nil
}

func (b *chanBackend) Consume(ctx context.Context, handle func(string, []byte) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-b.ch:
			if err := handle(e[0], []byte(e[1])); err != nil {
				b.ch <- e
			}
		}
	}
}

func TestQueueBackend(t *testing.T) {
	store := NewMemoryStore()
	backend := &chanBackend{ch: make(chan [2]string, 100)}
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

func TestQueueBackendFallbackDrop(t *testing.T) {
	store := NewMemoryStore()
	backend := &chanBackend{ch: make(chan [2]string, 100)}
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
