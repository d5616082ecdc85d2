package fastluaotel

// Script metrics through an OpenTelemetry meter: the series scripts make with the metrics module
// (metrics.incr, metrics.set, metrics.observe; Middleware.Stats().Metrics) are observed at each
// collection by one callback. Their names are the scripts' own and appear while the program runs,
// and OpenTelemetry's instruments are made before their callback, so a metric's name is an
// attribute: four instruments carry every script metric.

import (
	"context"

	"github.com/fastlua/fastlua"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The instruments of RegisterScriptMetrics. Each series carries the attribute MetricAttribute
// (the name the script gave) and its labels as attributes.
const (
	// MetricAttribute is the attribute that names a script metric.
	MetricAttribute = "fastlua.metric"
	// CounterInstrument: what metrics.incr counted, a monotonic sum.
	CounterInstrument = "fastlua.script.metric.counter"
	// GaugeInstrument: the last value metrics.set set.
	GaugeInstrument = "fastlua.script.metric.gauge"
	// SummaryCountInstrument and SummarySumInstrument: how many values metrics.observe saw,
	// and their sum (a Prometheus summary's _count and _sum).
	SummaryCountInstrument = "fastlua.script.metric.observations"
	SummarySumInstrument   = "fastlua.script.metric.observed"
)

// RegisterScriptMetrics observes m's script metrics through meter at each collection, until the
// returned registration is unregistered. Nothing is recorded between collections: the values
// are m's own totals.
func RegisterScriptMetrics(meter metric.Meter, m *fastlua.Middleware) (metric.Registration, error) {
	counter, err := meter.Float64ObservableCounter(CounterInstrument,
		metric.WithDescription("What fastlua scripts counted with metrics.incr; the attribute fastlua.metric is the script's name for it."))
	if err != nil {
		return nil, err
	}
	gauge, err := meter.Float64ObservableGauge(GaugeInstrument,
		metric.WithDescription("The last value fastlua scripts set with metrics.set; the attribute fastlua.metric is the script's name for it."))
	if err != nil {
		return nil, err
	}
	count, err := meter.Int64ObservableCounter(SummaryCountInstrument,
		metric.WithDescription("How many values fastlua scripts observed with metrics.observe; the attribute fastlua.metric is the script's name for it."))
	if err != nil {
		return nil, err
	}
	sum, err := meter.Float64ObservableCounter(SummarySumInstrument,
		metric.WithDescription("The sum of the values fastlua scripts observed with metrics.observe; the attribute fastlua.metric is the script's name for it."))
	if err != nil {
		return nil, err
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range m.Stats().Metrics {
			attrs := make([]attribute.KeyValue, 0, len(s.Labels)+1)
			// Label names are letters, digits and _: none can be "fastlua.metric".
			attrs = append(attrs, attribute.String(MetricAttribute, s.Name))
			for _, l := range s.Labels {
				attrs = append(attrs, attribute.String(l.Name, l.Value))
			}
			set := metric.WithAttributes(attrs...)
			switch s.Kind {
			case fastlua.MetricCounter:
				o.ObserveFloat64(counter, s.Value, set)
			case fastlua.MetricGauge:
				o.ObserveFloat64(gauge, s.Value, set)
			case fastlua.MetricSummary:
				o.ObserveInt64(count, int64(s.Count), set)
				o.ObserveFloat64(sum, s.Value, set)
			}
		}
		return nil
	}, counter, gauge, count, sum)
}
