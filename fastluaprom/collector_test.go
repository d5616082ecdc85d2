package fastluaprom_test

import (
	"strings"
	"testing"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluaprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
)

func TestCollector(t *testing.T) {
	mw, err := fastlua.New(fastlua.Config{Scripts: []fastlua.Script{
		{Name: "m.x.get.pre_process", Source: `if event.request.parameters.fail then error("no") end`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(t.Context())
	h := mw.Wrap(func(*fasthttp.RequestCtx) {})
	for _, uri := range []string{"/m/x", "/m/x", "/m/x?fail=1"} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(uri)
		h(&ctx)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(fastluaprom.NewCollector(mw))
	want := `
# HELP fastlua_script_errors_total Failed runs of an event script, timeouts included.
# TYPE fastlua_script_errors_total counter
fastlua_script_errors_total{script="m.x.get.pre_process"} 1
# HELP fastlua_script_runs_total Runs of an event script.
# TYPE fastlua_script_runs_total counter
fastlua_script_runs_total{script="m.x.get.pre_process"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fastlua_script_runs_total", "fastlua_script_errors_total"); err != nil {
		t.Fatal(err)
	}
	queue := `
# HELP fastlua_queue_events_total Queued events by result: accepted, done, dropped (queue full or closed), failed; with a queue backend also published, fallback (refused by the backend), delivered (to this process, and run), retried (no queued script here: released for another consumer) and dead_lettered (given up after Config.QueueMaxAttempts, or unreadable).
# TYPE fastlua_queue_events_total counter
`
	for _, result := range []string{"accepted", "dead_lettered", "delivered", "done", "dropped", "failed", "fallback", "published", "retried"} {
		queue += `fastlua_queue_events_total{result="` + result + `"} 0` + "\n"
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(queue), "fastlua_queue_events_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n < 10 {
		t.Fatalf("%d metrics, %v", n, err)
	}
}

func TestScriptMetricsCollector(t *testing.T) {
	mw, err := fastlua.New(fastlua.Config{Scripts: []fastlua.Script{
		{Name: "m.x.get.pre_process", Source: `metrics.incr("orders", { kind = "a" }) metrics.set("depth", 3) metrics.observe("size", 2.5)`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(t.Context())
	h := mw.Wrap(func(*fasthttp.RequestCtx) {})
	for range 2 {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/m/x")
		h(&ctx)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(fastluaprom.NewCollector(mw), fastluaprom.NewScriptMetrics(mw))
	want := `
# HELP fastlua_script_metric_depth A gauge scripts set (metrics.set).
# TYPE fastlua_script_metric_depth gauge
fastlua_script_metric_depth 3
# HELP fastlua_script_metric_orders_total A counter scripts increment (metrics.incr).
# TYPE fastlua_script_metric_orders_total counter
fastlua_script_metric_orders_total{kind="a"} 2
# HELP fastlua_script_metric_size Values scripts observe (metrics.observe): their count and sum.
# TYPE fastlua_script_metric_size summary
fastlua_script_metric_size_sum 5
fastlua_script_metric_size_count 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fastlua_script_metric_depth", "fastlua_script_metric_orders_total", "fastlua_script_metric_size"); err != nil {
		t.Fatal(err)
	}
}
