// Package fastluaprom exports a fastlua Middleware's counters as Prometheus metrics:
//
//	prometheus.MustRegister(fastluaprom.NewCollector(mw))
//
// It reads Middleware.Stats on every scrape. Metrics:
//
//	fastlua_script_runs_total{script}           runs of a script
//	fastlua_script_errors_total{script}         failed runs (timeouts included)
//	fastlua_script_timeouts_total{script}       runs stopped by the time limit
//	fastlua_script_duration_seconds{script}     run time, one run in fastlua.DurationSampleRate
//	fastlua_queue_depth, fastlua_queue_capacity queued events waiting; the bound
//	fastlua_queue_events_total{result}          accepted, done, dropped, failed, published, fallback, delivered,
//	                                            retried, dead_lettered
//	fastlua_states{kind}                        Lua states: live, idle, max
//	fastlua_states_waiting                      requests waiting for a state
//	fastlua_states_created_total                states made
//	fastlua_script_source_up                    with Config.ScriptSource: 1 while it can be read, else 0
//	fastlua_script_source_version               the version of the shared set this instance runs
//	fastlua_script_source_failures_total        reads of the source that failed
//	fastlua_script_source_refused               scripts whose shared version this instance refused
package fastluaprom

import (
	"github.com/fastlua/fastlua"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector for a Middleware.
type Collector struct {
	m *fastlua.Middleware

	runs, errors, timeouts, duration  *prometheus.Desc
	queueDepth, queueCap, queueEvents *prometheus.Desc
	states, waiting, created          *prometheus.Desc
	sourceUp, sourceVersion           *prometheus.Desc
	sourceFailures, sourceRefused     *prometheus.Desc
}

// NewCollector returns a collector for m.
func NewCollector(m *fastlua.Middleware) *Collector {
	script := []string{"script"}
	return &Collector{
		m:           m,
		runs:        prometheus.NewDesc("fastlua_script_runs_total", "Runs of an event script.", script, nil),
		errors:      prometheus.NewDesc("fastlua_script_errors_total", "Failed runs of an event script, timeouts included.", script, nil),
		timeouts:    prometheus.NewDesc("fastlua_script_timeouts_total", "Runs of an event script stopped by its time limit.", script, nil),
		duration:    prometheus.NewDesc("fastlua_script_duration_seconds", "Run time of an event script (one run in fastlua.DurationSampleRate is timed).", script, nil),
		queueDepth:  prometheus.NewDesc("fastlua_queue_depth", "Queued events waiting for a worker.", nil, nil),
		queueCap:    prometheus.NewDesc("fastlua_queue_capacity", "The bound of the queue of queued events.", nil, nil),
		queueEvents: prometheus.NewDesc("fastlua_queue_events_total", "Queued events by result: accepted, done, dropped (queue full or closed), failed; with a queue backend also published, fallback (refused by the backend), delivered (to this process, and run), retried (no queued script here: released for another consumer) and dead_lettered (given up after Config.QueueMaxAttempts, or unreadable).", []string{"result"}, nil),
		states:      prometheus.NewDesc("fastlua_states", "Lua states: live, idle, and the maximum.", []string{"kind"}, nil),
		waiting:     prometheus.NewDesc("fastlua_states_waiting", "Requests waiting for a free Lua state.", nil, nil),
		created:     prometheus.NewDesc("fastlua_states_created_total", "Lua states made (a state that hit a limit is replaced).", nil, nil),

		sourceUp:       prometheus.NewDesc("fastlua_script_source_up", "1 while the shared script source (Config.ScriptSource) can be read, else 0.", nil, nil),
		sourceVersion:  prometheus.NewDesc("fastlua_script_source_version", "The version of the shared script set this instance runs (0: its last-known-good directory's).", nil, nil),
		sourceFailures: prometheus.NewDesc("fastlua_script_source_failures_total", "Reads of the shared script source that failed.", nil, nil),
		sourceRefused:  prometheus.NewDesc("fastlua_script_source_refused", "Scripts whose version in the shared source this instance did not install (it does not compile here).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.runs, c.errors, c.timeouts, c.duration, c.queueDepth, c.queueCap, c.queueEvents, c.states, c.waiting, c.created,
		c.sourceUp, c.sourceVersion, c.sourceFailures, c.sourceRefused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Stats()
	for _, s := range st.Scripts {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(s.Runs), s.Name)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(s.Errors), s.Name)
		ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.Timeouts), s.Name)
		h := s.Durations
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.duration, h.Count, h.Sum.Seconds(), buckets, s.Name)
	}
	q := st.Queue
	ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(q.Depth))
	ch <- prometheus.MustNewConstMetric(c.queueCap, prometheus.GaugeValue, float64(q.Capacity))
	for result, n := range map[string]uint64{"accepted": q.Accepted, "done": q.Done, "dropped": q.Dropped, "failed": q.Failed,
		"published": q.Published, "fallback": q.Fallbacks, "delivered": q.Delivered, "retried": q.Retried,
		"dead_lettered": q.DeadLettered} {
		ch <- prometheus.MustNewConstMetric(c.queueEvents, prometheus.CounterValue, float64(n), result)
	}
	p := st.Pool
	for kind, n := range map[string]int{"live": p.Live, "idle": p.Idle, "max": p.Max} {
		ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(p.Waiting))
	ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, float64(p.Created))
	if src := c.m.ScriptSourceStats(); src.Shared {
		up := 0.0
		if src.Reachable && !src.Unreadable { // "can be read": an unreadable entry is down too
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.sourceUp, prometheus.GaugeValue, up)
		ch <- prometheus.MustNewConstMetric(c.sourceVersion, prometheus.GaugeValue, float64(src.Version))
		ch <- prometheus.MustNewConstMetric(c.sourceFailures, prometheus.CounterValue, float64(src.Failures))
		ch <- prometheus.MustNewConstMetric(c.sourceRefused, prometheus.GaugeValue, float64(len(src.Refused)))
	}
}

var _ prometheus.Collector = (*Collector)(nil)

// ScriptMetrics is a prometheus.Collector of the metrics scripts make with the metrics module
// (fastlua.Stats.Metrics): metrics.incr("orders") is fastlua_script_metric_orders_total,
// metrics.set("depth", n) the gauge fastlua_script_metric_depth, metrics.observe("size", n)
// the summary fastlua_script_metric_size (its _count and _sum), each with the labels the
// script gave. The names are the scripts' own, so it is an unchecked collector (its Describe
// sends nothing); register it beside the Collector.
type ScriptMetrics struct {
	m *fastlua.Middleware
}

// NewScriptMetrics returns the collector of m's script metrics.
func NewScriptMetrics(m *fastlua.Middleware) *ScriptMetrics { return &ScriptMetrics{m: m} }

// Describe implements prometheus.Collector: it sends nothing, the names being the scripts'.
func (c *ScriptMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *ScriptMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.m.Stats().Metrics {
		labels := make(prometheus.Labels, len(s.Labels))
		for _, l := range s.Labels {
			labels[l.Name] = l.Value
		}
		name := "fastlua_script_metric_" + s.Name
		switch s.Kind {
		case fastlua.MetricCounter:
			d := prometheus.NewDesc(name+"_total", "A counter scripts increment (metrics.incr).", nil, labels)
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, s.Value)
		case fastlua.MetricGauge:
			d := prometheus.NewDesc(name, "A gauge scripts set (metrics.set).", nil, labels)
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, s.Value)
		case fastlua.MetricSummary:
			d := prometheus.NewDesc(name, "Values scripts observe (metrics.observe): their count and sum.", nil, labels)
			ch <- prometheus.MustNewConstSummary(d, s.Count, s.Value, nil)
		}
	}
}

var _ prometheus.Collector = (*ScriptMetrics)(nil)
