package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// TestMain makes the test binary a queued-event consumer when REDISSTORE_CONSUMER names a
// Redis address (BenchmarkQueuedEvents starts such processes).
func TestMain(m *testing.M) {
	if addr := os.Getenv("REDISSTORE_CONSUMER"); addr != "" {
		consume(addr, os.Getenv("REDISSTORE_STREAM"))
		return
	}
	os.Exit(m.Run())
}

// consume runs a middleware that only consumes queued events, until it is interrupted.
func consume(addr, stream string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	mw, err := fastlua.New(fastlua.Config{
		Store:          redisstore.NewStore(rdb, "s:"),
		QueueBackend:   redisstore.NewQueue(rdb, redisstore.QueueConfig{Stream: stream, Block: 100 * time.Millisecond}),
		QueueConsumers: 2,
		Logger:         slog.New(slog.DiscardHandler),
		Scripts:        []fastlua.Script{{Name: "q.x.get.queued", Source: `platform.store.incr("runs", 1)`}},
	})
	if err == nil {
		err = mw.Consume(func(*fasthttp.RequestCtx) {})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	_ = mw.Close(context.Background())
}

// incr on the in-process store against incr on Redis (one round trip: a server-side script).
func BenchmarkIncr(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	for name, s := range map[string]fastlua.Store{
		"memory": fastlua.NewMemoryStore(),
		"redis":  redisstore.NewStore(srv.Client(), "b:"),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Incr(ctx, "counter", 1, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// For reference: one round trip to the same Redis, which is most of an incr's cost.
	b.Run("redis-ping", func(b *testing.B) {
		rdb := srv.Client()
		b.ReportAllocs()
		for b.Loop() {
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Queued events through Redis Streams, end to end: requests to a publishing middleware (which
// does not consume), consumed by one or two consumer processes, each event running a script
// that increments a Redis counter.
func BenchmarkQueuedEvents(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client()
	for _, consumers := range []int{1, 2} {
		b.Run(fmt.Sprintf("%dconsumers", consumers), func(b *testing.B) {
			stream := fmt.Sprintf("bench:%d:%d", consumers, time.Now().UnixNano())
			rdb.Del(context.Background(), "s:runs")
			var procs []*exec.Cmd
			for i := 0; i < consumers; i++ {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), "REDISSTORE_CONSUMER="+srv.Addr(), "REDISSTORE_STREAM="+stream)
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				procs = append(procs, cmd)
			}
			defer func() {
				for _, p := range procs {
					_ = p.Process.Signal(os.Interrupt)
					_ = p.Wait()
				}
			}()
			never := &gate{QueueBackend: redisstore.NewQueue(rdb, redisstore.QueueConfig{Stream: stream}), open: make(chan struct{})}
			mw, err := fastlua.New(fastlua.Config{QueueBackend: never, QueueSize: 1 << 20, QueueFull: fastlua.QueueBlock,
				QueueWait: time.Minute, QueueWorkers: 4, Logger: slog.New(slog.DiscardHandler),
				Scripts: []fastlua.Script{{Name: "q.x.get.queued", Source: `local x = 1`}}})
			if err != nil {
				b.Fatal(err)
			}
			defer mw.Close(context.Background())
			h := mw.Wrap(func(*fasthttp.RequestCtx) {})
			if err := mw.Consume(func(*fasthttp.RequestCtx) {}); err != nil {
				b.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // the consumers start
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				get(h)
			}
			for number(nil, rdb, "s:runs") < b.N {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
