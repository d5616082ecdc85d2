package redisstore_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// A Redis that stalls (it keeps its connections and answers nothing) under load: once a
// Publish has failed, the queued events take the fallback at once, run here, instead of each
// waiting Config.HTTPTimeout for a Publish that fails too; one Publish at a time tries Redis
// again, and when it answers the events go to it again. Before, every event waited the whole
// timeout on one of the queue's workers, so with a stalled Redis the queue drained at
// QueueWorkers events per HTTPTimeout and filled: requests waited for room or their events
// were dropped, although the fallback promised to run them here (red-team finding).
func TestQueueStalledRedisFallsBackAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	mem := fastlua.NewMemoryStore()
	mw, err := fastlua.New(fastlua.Config{Store: mem, QueueBackend: redisstore.NewQueue(rdb, redisstore.QueueConfig{Stream: "q:stall"}),
		QueueWorkers: 2, QueueSize: 4, QueueFull: fastlua.QueueBlock, QueueWait: 30 * time.Second, HTTPTimeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Scripts: []fastlua.Script{{Name: "q.x.get.queued", Source: `platform.store.incr("runs", 1)`}}})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(context.Background())
	h := mw.Wrap(func(ctx *fasthttp.RequestCtx) {})
	runs := func() float64 {
		v, _, _ := mem.Get(context.Background(), "runs")
		f, _ := v.(float64)
		return f
	}
	srv.Pause()
	get(h)
	waitFor(t, "the first fallback", 20*time.Second, func() bool { return mw.Stats().Queue.Fallbacks == 1 })
	const n = 40
	start := time.Now()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; i < n; i++ {
			get(h) // waits for room in the queue (QueueBlock)
		}
	}()
	// Without the fix: about n × HTTPTimeout / QueueWorkers = 40 s.
	waitFor(t, "the requests served and their events run here", 15*time.Second, func() bool { return runs() == n+1 })
	<-sent
	t.Logf("%d events run here in %v with Redis stalled", n, time.Since(start))
	if st := mw.Stats().Queue; st.Dropped != 0 || st.Fallbacks != n+1 {
		t.Fatalf("stats: %+v", st)
	}
	srv.Resume()
	waitFor(t, "the events published again", 20*time.Second, func() bool {
		get(h)
		return mw.Stats().Queue.Published > 0
	})
}
