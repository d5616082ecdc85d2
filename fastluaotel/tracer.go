// Package fastluaotel traces a fastlua Middleware's scripts with OpenTelemetry: it is the
// fastlua.Tracer a program sets as Config.Tracer.
//
//	tracer := fastluaotel.New(fastluaotel.Config{TracerProvider: tp})
//	mw, err := fastlua.New(fastlua.Config{Tracer: tracer, ...})
//
// A request that matches scripts gets a span "fastlua GET" (the method; kind server), a child
// of the span in its traceparent header (W3C Trace Context, or Config.Propagator's format); in
// it a span per phase, "fastlua pre_process", "fastlua post_process", and in each a span per
// script run, named by the script's pattern ("db._table.{table_name}.get.pre_process"). The
// phases of an in-process platform.api request are children of the calling script's span, and
// the queued scripts' phase is a child of the request's span (its traceparent travels in the
// queued copy of the request, through a queue backend too). Outbound platform.api requests, and
// in-process ones, carry the calling script's span in their traceparent header, unless the
// script sets one in options.headers. The wrapped handler finds the span it runs in with
// fastlua.MatchOf(ctx).Span(), and sends it on with Tracer.Inject (examples/gateway does, to its
// upstream).
//
// Attributes: fastlua.event (the concrete event), fastlua.phase, fastlua.script, fastlua.outcome
// ("ok", "answered", or the failure's kind), fastlua.error.kind, fastlua.status (the failure's
// status, or the answered response's), fastlua.depth (nested calls), fastlua.error.line; the
// request span has fastlua.request_id, http.request.method, url.path and
// http.response.status_code. A failure is recorded on its span (an exception event) with the
// span status Error, on the script's span and, when it failed the phase closed, on the
// phase's and the request's; an error a script raised with a 4xx status (error{status_code =
// 403, ...}) is the script's answer, not a fault: its spans keep an unset status, as OpenTelemetry's
// HTTP conventions leave a server's 4xx.
//
// The log records fastlua ties to a request (what scripts log, the failures it logs) get
// trace_id and span_id, of the running script's span.
//
// RegisterScriptMetrics observes the scripts' own metrics (the metrics module) through an
// OpenTelemetry meter.
package fastluaotel

import (
	"context"
	"log/slog"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/fastlua/fastlua/fastluaotel"

// Config configures a Tracer. The zero value works.
type Config struct {
	// TracerProvider makes the tracer. Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider

	// Propagator reads the parent span from a request's headers and writes the running span
	// into the requests the middleware makes. Default propagation.TraceContext{} (traceparent
	// and tracestate); pass otel.GetTextMapPropagator() for the program's global one.
	Propagator propagation.TextMapPropagator
}

// Tracer is a fastlua.Tracer that makes OpenTelemetry spans. It is safe for concurrent use.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New returns a Tracer for cfg.
func New(cfg Config) *Tracer {
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return &Tracer{tracer: tp.Tracer(ScopeName), prop: prop}
}

// Start begins a span (fastlua.Tracer). A nil parent is read from ctx's headers.
func (t *Tracer) Start(parent context.Context, ctx *fasthttp.RequestCtx, s fastlua.SpanStart) (context.Context, func(fastlua.SpanEnd)) {
	if parent == nil {
		parent = t.prop.Extract(context.Background(), RequestHeaderCarrier{&ctx.Request.Header})
	}
	var name string
	kind := trace.SpanKindInternal
	attrs := make([]attribute.KeyValue, 0, 6)
	switch s.Kind {
	case fastlua.SpanRequest:
		name, kind = "fastlua "+string(ctx.Method()), trace.SpanKindServer
		attrs = append(attrs, attribute.String("http.request.method", string(ctx.Method())),
			attribute.String("url.path", string(ctx.Path())), attribute.String("fastlua.request_id", s.RequestID))
	case fastlua.SpanPhase:
		name = "fastlua " + s.Phase
		attrs = append(attrs, attribute.String("fastlua.phase", s.Phase), attribute.String("fastlua.event", s.Event))
	default:
		name = s.Script
		attrs = append(attrs, attribute.String("fastlua.script", s.Script), attribute.String("fastlua.phase", s.Phase),
			attribute.String("fastlua.event", s.Event))
	}
	if s.Depth > 0 {
		attrs = append(attrs, attribute.Int("fastlua.depth", s.Depth))
	}
	c, span := t.tracer.Start(parent, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	request := s.Kind == fastlua.SpanRequest
	return c, func(e fastlua.SpanEnd) {
		end(span, request, e)
	}
}

// end sets what the span's work came to and ends it.
func end(span trace.Span, request bool, e fastlua.SpanEnd) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(attribute.String("fastlua.outcome", e.Outcome))
	if e.Status != 0 {
		if request {
			span.SetAttributes(attribute.Int("http.response.status_code", e.Status))
		} else {
			span.SetAttributes(attribute.Int("fastlua.status", e.Status))
		}
	}
	if se := e.Err; se != nil {
		span.SetAttributes(attribute.String("fastlua.error.kind", se.Kind.String()))
		if se.Line > 0 {
			span.SetAttributes(attribute.Int("fastlua.error.line", se.Line))
		}
		if se.Kind != fastlua.KindRaised || se.Status >= 500 {
			span.RecordError(se)
			span.SetStatus(codes.Error, se.Message)
		}
	}
	span.End()
}

// Inject writes the span of span into h (fastlua.Tracer): traceparent and tracestate, or what
// Config.Propagator writes.
func (t *Tracer) Inject(span context.Context, h *fasthttp.RequestHeader) {
	t.prop.Inject(span, RequestHeaderCarrier{h})
}

// LogAttrs appends trace_id and span_id of the span in span (fastlua.Tracer), when it has one.
func (t *Tracer) LogAttrs(span context.Context, attrs []any) []any {
	sc := trace.SpanContextFromContext(span)
	if !sc.IsValid() {
		return attrs
	}
	return append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}

// RequestHeaderCarrier adapts fasthttp's request headers to OpenTelemetry's propagators
// (propagation.TextMapCarrier).
type RequestHeaderCarrier struct{ H *fasthttp.RequestHeader }

// Get returns the value of the header key, "" when there is none.
func (c RequestHeaderCarrier) Get(key string) string { return string(c.H.Peek(key)) }

// Set replaces the header key's values by value.
func (c RequestHeaderCarrier) Set(key, value string) { c.H.Set(key, value) }

// Keys lists the header names, in the request's case.
func (c RequestHeaderCarrier) Keys() []string {
	var keys []string
	for k := range c.H.All() {
		keys = append(keys, string(k))
	}
	return keys
}

var (
	_ fastlua.Tracer             = (*Tracer)(nil)
	_ propagation.TextMapCarrier = RequestHeaderCarrier{}
)
