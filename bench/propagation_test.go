package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// BenchmarkScriptPropagation measures shared scripts (Config.ScriptSource on a real
// redis-server on 127.0.0.1): the time from an admin write through instance A (POST
// .../event_script/{name}) to the first request served by instance B with the new version, one
// change an iteration; run it with -benchtime 100x for the median and p99 over 100 changes.
// B is polled about every 20 µs from the moment the write starts; post-µs is the mean time A's
// admin request took (it answers once A runs the change and its last-known-good directory has it).
func BenchmarkScriptPropagation(b *testing.B) {
	srv := redistest.Start(b)
	instance := func() *fastlua.Middleware {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
		b.Cleanup(func() { rdb.Close() })
		mw, err := fastlua.New(fastlua.Config{ScriptSource: redisstore.NewScriptSource(rdb, redisstore.ScriptSourceConfig{}),
			ScriptDir: b.TempDir(), AdminToken: "t", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { mw.Close(context.Background()) })
		return mw
	}
	a, bb := instance(), instance()
	admin := a.AdminHandler()
	served := bb.Wrap(okHandler)
	write := func(i int) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/_fastlua/event_script/api.x.get.pre_process")
		ctx.Request.Header.Set("Authorization", "Bearer t")
		ctx.Request.SetBodyString(fmt.Sprintf(`{"content": "event.response.content = \"v%d\""}`, i))
		admin(&ctx)
		if ctx.Response.StatusCode() != 201 {
			b.Fatalf("POST: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	serves := func() string {
		ctx := newCtx("GET", "/api/x")
		served(ctx)
		return string(ctx.Response.Body())
	}
	times := make([]time.Duration, 0, b.N)
	var posts time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := fmt.Sprintf("v%d", i)
		start := time.Now()
		seen := make(chan time.Duration)
		go func() { // B is asked from the moment the write starts
			for serves() != want {
				if time.Since(start) > 10*time.Second {
					seen <- -1
					return
				}
				time.Sleep(20 * time.Microsecond)
			}
			seen <- time.Since(start)
		}()
		write(i)
		posts += time.Since(start)
		d := <-seen
		if d < 0 {
			b.Fatalf("change %d: B did not serve it within 10 s", i)
		}
		times = append(times, d)
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(times[(len(times)*99)/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(times[len(times)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64((posts / time.Duration(b.N)).Microseconds()), "post-µs")
}
