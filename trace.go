package fastlua

import (
	"crypto/subtle"
	"log/slog"
	"strconv"
	"time"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
)

// The debug trace.
//
// With Config.DebugToken set, a request whose X-Fastlua-Debug header holds the token (compared
// in constant time) is traced: each script run (its name, phase, outcome and duration) is
// logged at debug level, and the response gets an X-Fastlua-Trace header, compact JSON listing
// the runs of pre_process, post_process and the platform.api calls they made. Queued scripts
// run after the response: their runs are logged only. The header is removed from the request
// before the scripts see it, so the token reaches no handler or upstream. Without the token (or without a
// DebugToken) the header is ignored, and a request pays one length check.

// DebugHeader is the request header that asks for a trace; TraceHeader is the response header
// that carries it.
const (
	DebugHeader = "X-Fastlua-Debug"
	TraceHeader = "X-Fastlua-Trace"
)

// maxTraceRuns bounds the runs a trace lists (a request may make up to Config.MaxAPICalls
// nested calls); the rest are counted.
const maxTraceRuns = 64

// trace is the runs of one traced request.
type trace struct {
	runs    []traceRun
	dropped int
}

type traceRun struct {
	script  string
	phase   bridge.Phase
	depth   int
	outcome string // "ok", "answered", or the error's kind
	dur     time.Duration
}

// debugRequested reports whether a request carries the debug token.
func (m *Middleware) debugRequested(req *fasthttp.Request) bool {
	got := req.Header.Peek(DebugHeader)
	return len(got) > 0 && subtle.ConstantTimeCompare(got, m.debugToken) == 1
}

// traceRun records a script's run in the root exchange's trace and logs it at debug level.
func (x *exchange) traceRun(s *script, start time.Time, err error, answered bool) {
	tr := x.rootExchange().trace
	outcome := "ok"
	switch se, _ := err.(*ScriptError); {
	case se != nil:
		outcome = se.Kind.String()
	case err != nil:
		outcome = KindModification.String()
	case answered:
		outcome = "answered"
	}
	d := time.Since(start)
	x.m.logger.Debug("fastlua: script ran", slog.String("script", s.Name), slog.String("event", x.Name()),
		slog.String("outcome", outcome), slog.Duration("duration", d))
	if len(tr.runs) >= maxTraceRuns {
		tr.dropped++
		return
	}
	tr.runs = append(tr.runs, traceRun{script: s.Name, phase: x.phase, depth: x.depth, outcome: outcome, dur: d})
}

// setTraceHeader writes the trace to the response:
// [{"script":"...","phase":"pre_process","outcome":"ok","us":12},...].
func (x *exchange) setTraceHeader() {
	tr := x.trace
	b := []byte{'['}
	for i, r := range tr.runs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"script":`...)
		b = bridge.AppendString(b, r.script)
		b = append(b, `,"phase":"`...)
		b = append(b, r.phase.String()...)
		b = append(b, `","outcome":"`...)
		b = append(b, r.outcome...)
		b = append(b, `","us":`...)
		b = strconv.AppendInt(b, r.dur.Microseconds(), 10)
		if r.depth > 0 {
			b = append(b, `,"depth":`...)
			b = strconv.AppendInt(b, int64(r.depth), 10)
		}
		b = append(b, '}')
	}
	if tr.dropped > 0 {
		b = append(b, `,{"dropped":`...)
		b = strconv.AppendInt(b, int64(tr.dropped), 10)
		b = append(b, '}')
	}
	b = append(b, ']')
	x.ctx.Response.Header.SetBytesV(TraceHeader, b)
}
