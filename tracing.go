package fastlua

import (
	"context"
	"strconv"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
)

// Tracing: Config.Tracer hears of a request's work as spans (the request through the
// middleware, each phase, each script run), and writes the span of the running script into the
// requests the middleware makes for it. The core knows no tracing library: fastluaotel is the
// OpenTelemetry Tracer. Without a Tracer a request pays a nil check per phase and per script.

// Tracer is Config.Tracer: it makes the spans of a request's work and carries their context
// across the requests the middleware makes. The middleware calls it on the request's goroutine
// (a queued script's, on its worker's); an implementation must be safe for concurrent use.
type Tracer interface {
	// Start begins a span, a child of the span in parent, and returns the new span's context
	// and the function that ends it (neither nil; end is called once). parent is nil for the
	// outermost span of a request the middleware did not make for a running script (a request
	// from the network, the queued copy of a request): Start then reads the parent from ctx's
	// headers (W3C traceparent), where the middleware's Inject put it for a queued copy. ctx is
	// valid until end returns.
	Start(parent context.Context, ctx *fasthttp.RequestCtx, s SpanStart) (span context.Context, end func(SpanEnd))

	// Inject writes the span of span (a context Start returned) into the headers of a request the
	// middleware makes: the running script's span into an in-process or outbound platform.api
	// request, before the script's options.headers are applied; the request span into the
	// queued copy of its request.
	Inject(span context.Context, h *fasthttp.RequestHeader)

	// LogAttrs appends to attrs what ties a log record to the span of span (fastluaotel:
	// trace_id and span_id). It is called for the records a script writes, with its running
	// span, and for the failures the middleware logs, with the failed script's span.
	LogAttrs(span context.Context, attrs []any) []any
}

// SpanKind says what a span stands for.
type SpanKind uint8

// The kinds of span.
const (
	// SpanRequest is a request's way through the middleware, from its first phase to its
	// last, the handler between; made for a request that matches scripts, at the top level
	// only: the phases of an in-process platform.api request are children of the calling
	// script's span.
	SpanRequest SpanKind = iota + 1
	// SpanPhase is one phase's scripts, run in order on one Lua state.
	SpanPhase
	// SpanScript is one script's run.
	SpanScript
)

var spanKindNames = [...]string{"", "request", "phase", "script"}

// String returns the SpanKind's name.
func (k SpanKind) String() string {
	if int(k) < len(spanKindNames) && k > 0 {
		return spanKindNames[k]
	}
	return "SpanKind(" + strconv.Itoa(int(k)) + ")"
}

// SpanStart describes a span Tracer.Start begins.
type SpanStart struct {
	Kind      SpanKind
	Phase     string // "pre_process", "post_process" or "queued"; "" for a request
	Script    string // the script's name, its pattern ("db._table.{table_name}.get.pre_process"), for a script
	Event     string // the concrete event ("db._table.customer.get.pre_process"), for a phase or a script
	Depth     int    // 0 at the top level; +1 per nested platform.api call
	RequestID string // the request's id (see "Request ids" in the package documentation), for a request
}

// SpanEnd describes how the work of a span ended.
type SpanEnd struct {
	// Outcome is "ok", "answered" (a pre_process script answered the request) or the kind of
	// the failure (ErrorKind's names: "runtime", "raised", "timeout", ..., "unavailable").
	Outcome string
	// Status is the failure's status; else, for a request and for a script that answered, the
	// response's status; else 0.
	Status int
	// Err is the failure: the script's (fail-open ones too: Err.FailOpen is not set yet, the
	// script's FailOpen is), or, for a phase and a request, the one that failed it closed.
	// nil when there is none.
	Err *ScriptError
}

// spanSet is the spans of one exchange while a Tracer makes them; the zero value without one.
type spanSet struct {
	// parent is what the exchange's phase spans are children of: its request span (top
	// level), the calling script's span (serveNested); nil for a queued copy, whose headers
	// carry it.
	parent context.Context
	phase  context.Context // the running phase's span; nil between phases
	// script is the running script's span, kept after it ends (for the record that logs its
	// failure) until the next script starts or the phase ends.
	script  context.Context
	failure *ScriptError // the failure that failed the phase (and the request) closed
}

// current is the innermost span of x, for log records and injection.
func (s *spanSet) current() context.Context {
	switch {
	case s.script != nil:
		return s.script
	case s.phase != nil:
		return s.phase
	}
	return s.parent
}

// startSpan calls the Tracer, guarding against a nil context or end function.
func (x *exchange) startSpan(t Tracer, parent context.Context, s SpanStart) (context.Context, func(SpanEnd)) {
	c, end := t.Start(parent, x.ctx, s)
	if c == nil {
		c = context.Background()
	}
	if end == nil {
		end = noSpanEnd
	}
	return c, end
}

func noSpanEnd(SpanEnd) {}

// tracedServe is serve inside the request's span.
func (x *exchange) tracedServe(t Tracer) {
	c, end := x.startSpan(t, nil, SpanStart{Kind: SpanRequest, RequestID: x.RequestID()})
	x.spans.parent = c
	x.serve()
	e := SpanEnd{Outcome: "ok", Status: x.ctx.Response.StatusCode()}
	if f := x.spans.failure; f != nil {
		e.Outcome, e.Err = f.Kind.String(), f
	} else if x.answered {
		e.Outcome = "answered"
	}
	end(e)
}

// tracedPhase is runPhase inside the phase's span.
func (x *exchange) tracedPhase(t Tracer, phase bridge.Phase, scripts []*script) bool {
	x.phase = phase
	x.spans.failure = nil
	c, end := x.startSpan(t, x.spans.parent, SpanStart{Kind: SpanPhase, Phase: phase.String(), Event: x.Name(), Depth: x.depth})
	x.spans.phase = c
	ok := x.runPhase(phase, scripts)
	e := SpanEnd{Outcome: "ok"}
	switch f := x.spans.failure; {
	case !ok && f != nil:
		e = SpanEnd{Outcome: f.Kind.String(), Status: f.Status, Err: f}
	case phase == bridge.PreProcess && x.answered:
		e = SpanEnd{Outcome: "answered", Status: x.ctx.Response.StatusCode()}
	}
	x.spans.phase, x.spans.script = nil, nil
	end(e)
	return ok
}

// startScript begins the span of s's run.
func (x *exchange) startScript(t Tracer, s *script) func(SpanEnd) {
	c, end := x.startSpan(t, x.spans.phase, SpanStart{Kind: SpanScript, Phase: x.phase.String(), Script: s.Name, Event: x.Name(), Depth: x.depth})
	x.spans.script = c
	return end
}

// endScript ends the span of s's run, which returned err.
func (x *exchange) endScript(end func(SpanEnd), s *script, lv *level, err error) {
	e := SpanEnd{Outcome: "ok"}
	switch {
	case err != nil:
		se, ok := err.(*ScriptError)
		if !ok {
			se = &ScriptError{Script: s.Name, Kind: KindModification, Status: 500, Message: err.Error(), Err: err}
		}
		e = SpanEnd{Outcome: se.Kind.String(), Status: se.Status, Err: se}
	case x.phase == bridge.PreProcess && lv.ev.Answered():
		e = SpanEnd{Outcome: "answered", Status: x.ctx.Response.StatusCode()}
	}
	end(e)
}

// injectSpan writes x's innermost span into h, a request made for x's running script.
func (x *exchange) injectSpan(t Tracer, h *fasthttp.RequestHeader) {
	if c := x.spans.current(); c != nil {
		t.Inject(c, h)
	}
}

// Span returns the context of the span the handler runs in (with Config.Tracer): the request's,
// or the calling script's for an in-process platform.api request, for the handler to carry into
// its own calls (fastluaotel's Inject into an upstream request); nil without a Tracer.
func (m *Match) Span() context.Context {
	if m == nil || m.x == nil {
		return nil
	}
	return m.x.spans.current()
}
