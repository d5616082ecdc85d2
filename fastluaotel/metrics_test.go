package fastluaotel_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluaotel"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestScriptMetrics: what scripts count, set and observe with the metrics module is read through
// an OpenTelemetry meter (the SDK's manual reader), the script's name for it as an attribute
// beside its labels; a collection after more requests sees the new totals.
func TestScriptMetrics(t *testing.T) {
	mw, err := fastlua.New(fastlua.Config{ScriptFS: os.DirFS("testdata/metrics")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = mw.Close(ctx)
	})
	addr := listen(t, mw.Wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }))
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	reg, err := fastluaotel.RegisterScriptMetrics(provider.Meter("test"), mw)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) {
		t.Helper()
		status, body, err := fasthttp.GetTimeout(nil, "http://"+addr+path, 30*time.Second)
		if err != nil || status != 200 {
			t.Fatalf("GET %s: %d %s %v", path, status, body, err)
		}
	}
	collect := func() map[string]metricdata.Aggregation {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		out := map[string]metricdata.Aggregation{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				out[m.Name] = m.Data
			}
		}
		return out
	}
	name := func(attrs attribute.Set) string {
		v, _ := attrs.Value(fastluaotel.MetricAttribute)
		return v.AsString()
	}

	get("/orders/7")
	get("/orders/1234")
	data := collect()

	counter, ok := data[fastluaotel.CounterInstrument].(metricdata.Sum[float64])
	if !ok || len(counter.DataPoints) != 1 || !counter.IsMonotonic {
		t.Fatalf("counter: %#v", data[fastluaotel.CounterInstrument])
	}
	dp := counter.DataPoints[0]
	if name(dp.Attributes) != "order_reads" || dp.Value != 2 {
		t.Errorf("counter point %v = %v", dp.Attributes.ToSlice(), dp.Value)
	}
	if v, _ := dp.Attributes.Value("kind"); v.AsString() != "web" {
		t.Errorf("the counter's label: %v", dp.Attributes.ToSlice())
	}
	gauge, ok := data[fastluaotel.GaugeInstrument].(metricdata.Gauge[float64])
	if !ok || len(gauge.DataPoints) != 1 || name(gauge.DataPoints[0].Attributes) != "last_order" || gauge.DataPoints[0].Value != 1234 {
		t.Errorf("gauge: %#v", data[fastluaotel.GaugeInstrument])
	}
	count, ok := data[fastluaotel.SummaryCountInstrument].(metricdata.Sum[int64])
	if !ok || len(count.DataPoints) != 1 || count.DataPoints[0].Value != 2 || name(count.DataPoints[0].Attributes) != "order_id_size" {
		t.Errorf("observations: %#v", data[fastluaotel.SummaryCountInstrument])
	}
	sum, ok := data[fastluaotel.SummarySumInstrument].(metricdata.Sum[float64])
	if !ok || len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 5 {
		t.Errorf("observed sum: %#v", data[fastluaotel.SummarySumInstrument])
	}

	// Later collections see the totals grow; after Unregister nothing more is observed.
	get("/orders/9")
	if c := collect()[fastluaotel.CounterInstrument].(metricdata.Sum[float64]); c.DataPoints[0].Value != 3 {
		t.Errorf("after a third request the counter is %v", c.DataPoints[0].Value)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if c, ok := collect()[fastluaotel.CounterInstrument].(metricdata.Sum[float64]); ok && len(c.DataPoints) != 0 {
		t.Errorf("observed after Unregister: %v", c.DataPoints)
	}
}
