package fastlua

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
)

// One request through the middleware: the scripts the route lookup found, each phase run on a
// state from the pool (runPhase), the handler between, and the failure path (fail).

// exchange is one request going through the middleware: its path segments, the scripts that
// matched, and the state its scripts run on. Exchanges are pooled; everything is reset with
// [:0] so their memory is reused.
type exchange struct {
	m    *Middleware
	ctx  *fasthttp.RequestCtx
	next fasthttp.RequestHandler

	route // the request's segments, verb and matching scripts (routes.lookup)

	phase    bridge.Phase
	cur      *script // the script running now (for event.params)
	answered bool    // a pre_process script answered the request

	st       *state    // the caller's state for a nested call (platform.api); nil at the top level
	running  *state    // the state the current phase runs on
	depth    int       // 0 at the top level; +1 per nested platform.api call
	root     *exchange // the top-level exchange: the session belongs to it
	apiCalls int       // in-process platform.api calls for the request (on the root; Config.MaxAPICalls)

	session     any    // Config.Session's value for the request
	sessionDone bool   // session has been built
	queueID     string // the queued event's id, for its queued scripts
	requestID   string // the request's id (RequestID), on the root; "" until first used
	noState     bool   // begin got no state: the phase's scripts did not all run
	trace       *trace // the runs of a traced request (trace.go), on the root; nil when not traced
	preRan      int    // the pre_process scripts that ran (Match.Scripts)
	match       Match  // what the handler sees under UserValueMatch (match.go)
	shard       uint32 // fixed when made: the pool's hot slot and the counters' shard it uses

	spans spanSet // Config.Tracer's spans (tracing.go); zero without one
}

// exchangePool keeps exchanges per P (sync.Pool), so an exchange's shard stands for a core.
var exchangePool = sync.Pool{New: func() any {
	x := &exchange{shard: exchangeSeq.Add(1)}
	x.route.init()
	return x
}}

// exchangeSeq numbers the exchanges made, for their shards.
var exchangeSeq atomic.Uint32

// getExchange takes an exchange for a request and finds its route (routes.lookup). ok is false
// when the request's path is outside the prefix or has no service segment; the exchange must
// be put back all the same.
func (m *Middleware) getExchange(rt *routes, ctx *fasthttp.RequestCtx, next fasthttp.RequestHandler) (x *exchange, ok bool) {
	x = exchangePool.Get().(*exchange)
	x.m, x.ctx, x.next = m, ctx, next
	return x, rt.lookup(ctx.Request.Header.Method(), ctx.Path(), &x.route)
}

// exchangeAt is getExchange for a request whose place routes.find found already.
func (m *Middleware) exchangeAt(rt *routes, pl place, ctx *fasthttp.RequestCtx, next fasthttp.RequestHandler) *exchange {
	x := exchangePool.Get().(*exchange)
	x.m, x.ctx, x.next = m, ctx, next
	rt.fill(pl, ctx.Request.Header.Method(), &x.route)
	return x
}

func putExchange(x *exchange) {
	x.route.reset()
	x.m, x.ctx, x.next, x.cur, x.st, x.running, x.root = nil, nil, nil, nil, nil, nil, nil
	x.answered, x.depth, x.phase, x.apiCalls = false, 0, bridge.PreProcess, 0
	x.session, x.sessionDone, x.queueID, x.noState, x.trace = nil, false, "", false, nil
	x.requestID, x.preRan, x.match.x = "", 0, nil
	x.spans = spanSet{}
	exchangePool.Put(x)
}

// serveNested serves an in-process platform.api request made by a script of parent: on the
// parent's state, one level deeper, with the parent's handler and session.
func (m *Middleware) serveNested(ctx *fasthttp.RequestCtx, parent *exchange) {
	rt := m.routes.Load()
	pl, ok := rt.find(ctx.Path())
	if !ok {
		parent.next(ctx)
		return
	}
	x := m.exchangeAt(rt, pl, ctx, parent.next)
	x.st, x.depth, x.root = parent.running, parent.depth+1, parent.rootExchange()
	x.spans.parent = parent.spans.script // the calling script's span, with a Tracer
	x.serve()
	putExchange(x)
}

func (x *exchange) rootExchange() *exchange {
	if x.root != nil {
		return x.root
	}
	return x
}

// sessionValue returns the request's session, building it with Config.Session on first use.
// ok is false when there is no Config.Session.
func (x *exchange) sessionValue() (v any, ok bool) {
	r := x.rootExchange()
	if !r.sessionDone {
		r.sessionDone = true
		if hook := x.m.cfg.Session; hook != nil {
			r.session = x.m.buildSession(hook, r.ctx)
		}
	}
	return r.session, x.m.cfg.Session != nil
}

// serve runs the matching scripts around the next handler.
func (x *exchange) serve() {
	if len(x.matched) == 0 {
		x.next(x.ctx)
		return
	}
	if t := x.m.cfg.Tracer; t != nil && x.depth == 0 && x.spans.parent == nil {
		x.tracedServe(t) // serve again, inside the request's span
		return
	}
	pre, post, queued := x.phases()

	ok := true
	if len(pre) > 0 {
		ok = x.runPhase(bridge.PreProcess, pre)
	}
	if ok && !x.answered {
		x.match.x = x
		x.ctx.SetUserValue(UserValueMatch, &x.match)
		x.next(x.ctx)
		x.ctx.RemoveUserValue(UserValueMatch)
		x.match.x = nil
	}
	if ok && len(post) > 0 {
		x.runPhase(bridge.PostProcess, post)
	}
	if len(queued) > 0 {
		x.m.enqueue(x, queued)
	}
}

// runPhase runs one phase's scripts in order on one state. It reports false when a script
// failed closed (the error response has been written).
func (x *exchange) runPhase(phase bridge.Phase, scripts []*script) bool {
	if t := x.m.cfg.Tracer; t != nil && x.spans.phase == nil {
		return x.tracedPhase(t, phase, scripts) // runPhase again, inside the phase's span
	}
	x.phase = phase // before begin: fail answers or logs by the phase
	lv, ok := x.begin()
	if !ok {
		return false
	}
	tr := x.rootExchange().trace
	for i, s := range scripts {
		var start time.Time
		if tr != nil {
			start = time.Now()
		}
		err := x.runScript(lv, s)
		if phase == bridge.PreProcess {
			x.preRan = i + 1
		}
		if tr != nil {
			x.traceRun(s, start, err, phase == bridge.PreProcess && lv.ev.Answered())
		}
		if err != nil {
			se := x.scriptError(s, err)
			s.stats.errors.Add(1)
			if se.Kind == KindTimeout {
				s.stats.timeouts.Add(1)
			}
			x.fail(se, s.FailOpen)
			if !s.FailOpen {
				ok = false
				break
			}
		}
		if phase == bridge.PreProcess && lv.ev.Answered() {
			x.answered = true
			break
		}
		// A state that hit a limit cannot run the rest: move to a fresh one.
		if lv.st.broken && x.st == nil && i+1 < len(scripts) {
			x.end(lv)
			if lv, ok = x.begin(); !ok {
				return false
			}
		}
	}
	x.end(lv)
	return ok
}

// begin takes the state the phase runs on (the caller's, for a nested call; else one from the
// pool) and binds its next level to the request. When no state becomes free, the request is
// answered with 503 and ok is false.
func (x *exchange) begin() (lv *level, ok bool) {
	st := x.st
	if st == nil {
		var err error
		if st, err = x.acquire(x.phase); err != nil {
			x.noState = true
			x.fail(&ScriptError{Kind: KindUnavailable, Status: 503, Message: err.Error(), Err: err}, false)
			return nil, false
		}
	}
	x.running = st
	lv = st.enter()
	lv.x = x
	lv.ev.Bind(x, x.phase, &x.ctx.Request, &x.ctx.Response)
	return lv, true
}

// end unbinds the level begin bound and gives a state from the pool back.
func (x *exchange) end(lv *level) {
	lv.unbind()
	lv.st.leave()
	if x.st == nil {
		x.m.pool.put(lv.st)
	}
	x.cur, x.running = nil, nil
}

// runScript runs one script at level lv (state.run) and applies what it did to the event: the
// changes it made in place, the value it returned. One run in DurationSampleRate is timed.
func (x *exchange) runScript(lv *level, s *script) error {
	x.cur = s
	lv.ev.BeginScript(s.ReadOnly)
	var start time.Time
	timed := s.stats.runs.Add(1)%DurationSampleRate == 1
	if timed {
		start = time.Now()
	}
	var endSpan func(SpanEnd)
	if t := x.m.cfg.Tracer; t != nil {
		endSpan = x.startScript(t, s)
	}
	ret, err := lv.st.run(s, lv)
	if err == nil {
		if err = lv.ev.EndScript(); err == nil {
			err = lv.ev.ApplyReturn(ret)
		}
	} else {
		lv.ev.AbortScript()
	}
	if timed {
		s.stats.observe(time.Since(start))
	}
	if endSpan != nil {
		x.endScript(endSpan, s, lv, err)
	}
	return err
}

// acquire takes a state from the pool. Requests wait up to Config.PoolTimeout; queued scripts,
// which delay no one, wait until a state is free (or Close gives up on them).
func (x *exchange) acquire(phase bridge.Phase) (*state, error) {
	for {
		st, err := x.m.pool.getOn(x.shard, x.m.cfg.PoolTimeout)
		if err == ErrPoolTimeout && phase == bridge.Queued && !x.m.queue.abort.Load() {
			continue
		}
		return st, err
	}
}

// scriptError makes err a ScriptError naming the script and event.
func (x *exchange) scriptError(s *script, err error) *ScriptError {
	se, ok := err.(*ScriptError)
	if !ok {
		se = &ScriptError{Script: s.Name, Kind: KindModification, Status: 500, Message: err.Error(), Err: err}
	}
	se.Event = x.Name()
	return se
}

// fail logs a script's error, hands it to Config.OnError and, unless the script fails open,
// answers the request with it (Config.ErrorWriter, or DreamFactory's body).
func (x *exchange) fail(se *ScriptError, open bool) {
	m := x.m
	se.Phase, se.FailOpen, se.RequestID = x.phase.String(), open, x.RequestID()
	if se.Event == "" && len(x.segs) > 0 {
		se.Event = x.Name()
	}
	if !open {
		x.spans.failure = se // the phase's and the request's span end with it (tracing.go)
	}
	if h := m.cfg.OnError; h != nil {
		h(x.ctx, se)
	}
	attrs := []any{slog.String("script", se.Script), slog.String("event", se.Event),
		slog.String("kind", se.Kind.String()), slog.Int("status", se.Status)}
	attrs = x.requestAttrs(attrs)
	if se.Line > 0 {
		attrs = append(attrs, slog.Int("line", se.Line))
	}
	if se.Traceback != "" {
		attrs = append(attrs, slog.String("traceback", se.Traceback))
	}
	if open {
		m.logger.Warn("fastlua: script failed (fail-open, the request goes on): "+se.Message, attrs...)
		return
	}
	if x.phase == bridge.Queued {
		m.logger.Error("fastlua: queued script failed: "+se.Message, attrs...)
		return
	}
	if se.Kind == KindRaised {
		m.logger.Debug("fastlua: script answered with an error: "+se.Message, attrs...)
	} else {
		m.logger.Error("fastlua: script failed: "+se.Message, attrs...)
	}
	resp := &x.ctx.Response
	if x.phase == bridge.PreProcess {
		// Before the handler, the response holds only what pre_process scripts and middleware
		// earlier in the chain set (rate-limit and CORS headers): keep that.
		clearBody(resp)
	} else {
		// After it, the handler's headers describe a response the error replaces.
		resp.Reset()
	}
	if w := m.cfg.ErrorWriter; w != nil {
		w(x.ctx, se)
		return
	}
	WriteError(resp, se.Status, se.publicMessage(m.cfg.HideErrors))
}

// Name is the concrete event name for the running phase (bridge.Info).
func (x *exchange) Name() string { return x.eventName(x.phase) }

// eventName is the concrete event name for a phase.
func (x *exchange) eventName(phase bridge.Phase) string {
	var b strings.Builder
	for _, sg := range x.segs {
		b.Write(x.path[sg.start:sg.end])
		b.WriteByte('.')
	}
	b.Write(x.verb)
	b.WriteByte('.')
	b.WriteString(phase.String())
	return b.String()
}

// Service is the service segment (bridge.Info).
func (x *exchange) Service() string {
	if len(x.segs) == 0 {
		return ""
	}
	return string(x.path[x.segs[0].start:x.segs[0].end])
}

// Resource is the resource path below the service, as "_table/customer" (bridge.Info).
func (x *exchange) Resource() string {
	if len(x.segs) < 2 {
		return ""
	}
	return x.join(1, len(x.segs))
}

// join returns segments [from, to) joined with "/".
func (x *exchange) join(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		if i > from {
			b.WriteByte('/')
		}
		sg := x.segs[i]
		b.Write(x.path[sg.start:sg.end])
	}
	return b.String()
}

// Client is who sent the request (bridge.Info), by Config.TrustedProxies.
func (x *exchange) Client() bridge.Client {
	return x.m.proxies.ClientOf(x.ctx.RemoteAddr(), x.ctx.IsTLS(), &x.ctx.Request)
}

// QueueID is the queued event's id (bridge.Info): the backend's delivery id, or a local one.
func (x *exchange) QueueID() string { return x.queueID }

// VisitParams reports the running script's placeholder bindings (bridge.Info).
func (x *exchange) VisitParams(f func(name, value string)) {
	if x.cur != nil {
		x.visitParams(x.cur, f)
	}
}

// visitParams reports the placeholder bindings of s's pattern.
func (x *exchange) visitParams(s *script, f func(name, value string)) {
	if name := s.pat.verbName; name != "" {
		f(name, string(x.verb))
	}
	for i, sg := range s.pat.segs {
		switch sg.kind {
		case segParam:
			if i < len(x.segs) {
				f(sg.text, string(x.path[x.segs[i].start:x.segs[i].end]))
			}
		case segCatchAll:
			if i < len(x.segs) {
				f(sg.text, x.join(i, len(x.segs)))
			}
		}
	}
}

var _ bridge.Info = (*exchange)(nil)

// clearBody empties a response for an error answer that keeps the headers set so far, except
// the one that describes the old body.
func clearBody(resp *fasthttp.Response) {
	resp.ResetBody()
	resp.Header.Del(fasthttp.HeaderContentEncoding)
}
