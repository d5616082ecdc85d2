package fastlua

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// MetricKind is what a script metric counts.
type MetricKind uint8

// The kinds of script metric: what the call that made a name first chose.
const (
	MetricCounter MetricKind = iota // metrics.incr: a total that only grows
	MetricGauge                     // metrics.set: the last value set
	MetricSummary                   // metrics.observe: the count and sum of the values observed
)

var metricKindNames = [...]string{"counter", "gauge", "summary"}

// String returns the MetricKind's name.
func (k MetricKind) String() string {
	if int(k) < len(metricKindNames) {
		return metricKindNames[k]
	}
	return fmt.Sprintf("MetricKind(%d)", k)
}

// The fixed bounds of one metrics call: a longer name, label or value, or more labels, is
// refused with an error naming the bound.
const (
	MaxMetricLabels     = 8   // labels of one series
	MaxMetricNameLength = 128 // bytes of a metric's or a label's name
	MaxMetricValueSize  = 256 // bytes of a label's value
)

// MetricLabel is one label of a script metric's series.
type MetricLabel struct{ Name, Value string }

// ScriptMetric is one series of a metric scripts made with the metrics module (Stats.Metrics).
type ScriptMetric struct {
	Name   string
	Kind   MetricKind
	Labels []MetricLabel // sorted by name
	Value  float64       // a counter's total, a gauge's value; a summary's sum
	Count  uint64        // a summary's observations (a counter's or gauge's calls)
}

// scriptMetrics holds the metrics of the metrics module, shared by every state, bounded by
// Config.MaxScriptMetrics names and Config.MaxScriptMetricSeries label sets per name.
type scriptMetrics struct {
	mu     sync.Mutex
	byName map[string]*metricFamily
}

type metricFamily struct {
	kind   MetricKind
	names  string                   // the label names, as "a,b": fixed by the first call
	series map[string]*ScriptMetric // by the labels' canonical text
}

// record applies one call (a series' labels are the same names, in the same order, on every
// call: Prometheus wants one set of label names per metric); it returns an error for a script, naming the bound it broke.
func (sm *scriptMetrics) record(m *Middleware, kind MetricKind, name string, labels []MetricLabel, v float64) error {
	key := metricKey(labels)
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.byName == nil {
		sm.byName = map[string]*metricFamily{}
	}
	f := sm.byName[name]
	if f == nil {
		if len(sm.byName) >= m.cfg.MaxScriptMetrics {
			return fmt.Errorf("metric %q refused: scripts have made %d metrics, the limit (Config.MaxScriptMetrics)", name, m.cfg.MaxScriptMetrics)
		}
		f = &metricFamily{kind: kind, names: labelNames(labels), series: map[string]*ScriptMetric{}}
		sm.byName[name] = f
	}
	if f.kind != kind {
		return fmt.Errorf("metric %q is a %v: it cannot be used as a %v", name, f.kind, kind)
	}
	if names := labelNames(labels); names != f.names {
		return fmt.Errorf("metric %q has the labels (%s): every call must give the same label names, not (%s)", name, f.names, names)
	}
	s := f.series[key]
	if s == nil {
		if len(f.series) >= m.cfg.MaxScriptMetricSeries {
			return fmt.Errorf("metric %q refused a new label set: it has %d, the limit (Config.MaxScriptMetricSeries)", name, m.cfg.MaxScriptMetricSeries)
		}
		s = &ScriptMetric{Name: name, Kind: kind, Labels: labels}
		f.series[key] = s
	}
	s.Count++
	if kind == MetricGauge {
		s.Value = v
	} else {
		s.Value += v
	}
	return nil
}

// snapshot copies every series, sorted by name, then labels.
func (sm *scriptMetrics) snapshot() []ScriptMetric {
	sm.mu.Lock()
	var out []ScriptMetric
	for _, f := range sm.byName {
		for _, s := range f.series {
			c := *s
			c.Labels = slices.Clone(s.Labels)
			out = append(out, c)
		}
	}
	sm.mu.Unlock()
	slices.SortFunc(out, func(a, b ScriptMetric) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(metricKey(a.Labels), metricKey(b.Labels))
	})
	return out
}

// labelNames is the names of sorted labels, as "a,b".
func labelNames(labels []MetricLabel) string {
	var b strings.Builder
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
	}
	return b.String()
}

// metricKey is the canonical text of sorted labels.
func metricKey(labels []MetricLabel) string {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString(l.Name)
		b.WriteByte(0)
		b.WriteString(l.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// validMetricName reports whether s is a Prometheus-style name: [a-zA-Z_][a-zA-Z0-9_]*.
func validMetricName(s string) bool {
	if s == "" || len(s) > MaxMetricNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// newMetricsModule is metrics.incr(name [, by] [, labels]), metrics.observe(name, value
// [, labels]) and metrics.set(name, value [, labels]).
func (st *state) newMetricsModule(L *lua.LState) *lua.LTable {
	mod := L.CreateTable(0, 3)
	call := func(kind MetricKind) lua.LGFunction {
		return func(L *lua.LState) int {
			name := L.CheckString(1)
			if !validMetricName(name) {
				L.ArgError(1, fmt.Sprintf("a metric's name is letters, digits and _, not starting with a digit, at most %d bytes (MaxMetricNameLength)", MaxMetricNameLength))
			}
			v, labelsAt := 1.0, 2
			switch kind {
			case MetricCounter:
				if n, ok := L.Get(2).(lua.LNumber); ok {
					v, labelsAt = float64(n), 3
				} else if L.Get(2) != lua.LNil {
					if _, ok := L.Get(2).(*lua.LTable); !ok {
						L.ArgError(2, "a number (by) or a table (labels) expected")
					}
				} else {
					labelsAt = 3
				}
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					L.ArgError(2, "a counter grows: by must be a finite number >= 0")
				}
			default:
				v, labelsAt = float64(L.CheckNumber(2)), 3
				if math.IsNaN(v) || math.IsInf(v, 0) {
					L.ArgError(2, "a finite number expected")
				}
			}
			labels := metricLabels(L, labelsAt)
			if err := st.m.metrics.record(st.m, kind, name, labels, v); err != nil {
				L.RaiseError("metrics.%s: %s", [...]string{"incr", "set", "observe"}[kind], err.Error())
			}
			return 0
		}
	}
	mod.RawSetString("incr", L.NewFunction(call(MetricCounter)))
	mod.RawSetString("set", L.NewFunction(call(MetricGauge)))
	mod.RawSetString("observe", L.NewFunction(call(MetricSummary)))
	return mod
}

// metricLabels reads the labels table at argument n (absent or nil: none), sorted by name.
func metricLabels(L *lua.LState, n int) []MetricLabel {
	t := L.OptTable(n, nil)
	if t == nil {
		return nil
	}
	bridge.MaterializeJSON(L, t) // a lazily decoded JSON object: its labels, not an empty table
	var labels []MetricLabel
	t.ForEach(func(k, v lua.LValue) {
		ks, ok := k.(lua.LString)
		if !ok || !validMetricName(string(ks)) {
			L.ArgError(n, fmt.Sprintf("label names are letters, digits and _, at most %d bytes (MaxMetricNameLength); got %s", MaxMetricNameLength, k.String()))
		}
		if len(labels) == MaxMetricLabels {
			L.ArgError(n, fmt.Sprintf("more than %d labels (MaxMetricLabels)", MaxMetricLabels))
		}
		var val string
		switch v := v.(type) {
		case lua.LString, lua.LNumber, lua.LBool:
			val = v.String()
		default:
			L.ArgError(n, "label "+string(ks)+": a string, number or boolean expected, got "+v.Type().String())
		}
		if len(val) > MaxMetricValueSize {
			L.ArgError(n, fmt.Sprintf("label %s: its value is over %d bytes (MaxMetricValueSize)", ks, MaxMetricValueSize))
		}
		labels = append(labels, MetricLabel{Name: string(ks), Value: val})
	})
	slices.SortFunc(labels, func(a, b MetricLabel) int { return strings.Compare(a.Name, b.Name) })
	return labels
}
