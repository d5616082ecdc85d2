package fastlua

import (
	"reflect"
	"strings"
	"sync"
	"testing"
)

// Scripts count with the metrics module; Stats reports the series; the caps and the rules
// (a name keeps its kind and its label names) refuse a call with an error naming them.
func TestScriptMetrics(t *testing.T) {
	var handler echo
	ts := serve(t, Config{Scripts: scriptsFrom(t, "metrics"), MaxScriptMetrics: 8, MaxScriptMetricSeries: 4}, handler.handle)

	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := ts.do("GET", "/m/order", ""); r.status != 200 {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	got := ts.mw.Stats().Metrics
	want := []ScriptMetric{
		{Name: "depth", Kind: MetricGauge, Value: 7, Count: 10},
		{Name: "orders", Kind: MetricCounter, Labels: []MetricLabel{{"kind", "a"}}, Value: 10, Count: 10},
		{Name: "orders", Kind: MetricCounter, Labels: []MetricLabel{{"kind", "b"}}, Value: 20, Count: 10},
		{Name: "size", Kind: MetricSummary, Value: 125, Count: 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Stats().Metrics\n got %+v\nwant %+v", got, want)
	}

	// In this order: /m/names fills the names up to the cap, after which /m/flood would meet
	// the names' cap instead of the series' (a map's order made it fail one run in eight).
	for _, c := range []struct{ path, msg string }{
		{"/m/flood", "Config.MaxScriptMetricSeries"},
		{"/m/names", "Config.MaxScriptMetrics"},
		{"/m/badname", "MaxMetricNameLength"},
		{"/m/kind", `metric "orders" is a counter: it cannot be used as a gauge`},
		{"/m/labels", `metric "orders" has the labels (kind)`},
	} {
		r := ts.do("GET", c.path, "")
		if r.status != 500 || !strings.Contains(r.errorMessage(t), c.msg) {
			t.Fatalf("%s: got %d %s, want an error naming %s", c.path, r.status, r.body, c.msg)
		}
	}
	// The caps held: 4 series of flood, 8 names in all.
	names := map[string]int{}
	for _, m := range ts.mw.Stats().Metrics {
		names[m.Name]++
	}
	if len(names) != 8 || names["flood"] != 4 {
		t.Fatalf("series past the caps: %v", names)
	}
}
