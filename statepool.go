package fastlua

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// statePool is a bounded LIFO pool of states: a mutex and a slice, so the state used last (with
// warm caches) is used next. When all MaxStates are busy, callers wait in FIFO order; a state
// that is released goes straight to the first waiter.
//
// In front of the slice, the state released last waits in a slot taken and filled with one
// atomic operation each, without the mutex (a mutex costs two per get and two per release, and
// each atomic waits for the CPU's pending stores, which a script run leaves many of). A release
// parks a state there only when no one waits and the pool is open, and checks both again after
// parking it: a caller that started waiting, or Close, in between might miss the state, so the
// releaser takes it back and goes the slow way. The caller that starts waiting checks the slot
// after announcing itself (waiting), so one of the two always sees the other.
type statePool struct {
	m       *Middleware
	hot     atomic.Pointer[state] // the state released last, when no one waited
	waiting atomic.Int32          // len(waiters), read without the mutex
	shut    atomic.Bool           // closed, read without the mutex
	mu      sync.Mutex
	idle    []*state
	live    int
	max     int
	waiters []chan *state // a nil state sent means "make your own"
	closed  bool
}

func (p *statePool) get(timeout time.Duration) (*state, error) {
	if st := p.hot.Swap(nil); st != nil {
		return st, nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		st := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return st, nil
	}
	if p.live < p.max {
		p.live++
		p.mu.Unlock()
		return p.create()
	}
	ch := make(chan *state, 1)
	p.waiters = append(p.waiters, ch)
	p.waiting.Add(1)
	p.mu.Unlock()
	// A release may have parked a state before it could see this caller waiting.
	if st := p.hot.Swap(nil); st != nil {
		if !p.cancel(ch) {
			p.release(<-ch) // handed a state (or a slot) as well: give it back
		}
		return st, nil
	}

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case st := <-ch:
		if st == nil {
			return p.create()
		}
		return st, nil
	case <-t.C:
	}
	if p.cancel(ch) {
		return nil, ErrPoolTimeout
	}
	// A state was handed over just as the timer fired: take it.
	if st := <-ch; st != nil {
		return st, nil
	}
	return p.create()
}

// cancel removes a waiter. It reports false when the waiter is gone already: a state (or a
// slot) has been sent to it.
func (p *statePool) cancel(ch chan *state) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.waiting.Add(-1)
			return true
		}
	}
	return false
}

// create makes a state for a slot already counted in live.
func (p *statePool) create() (*state, error) {
	st, err := p.m.newState()
	if err != nil {
		p.release(nil)
		return nil, err
	}
	return st, nil
}

// put returns a state after use. A broken state (its run panicked or hit a limit) is closed
// instead, and its slot freed.
func (p *statePool) put(st *state) {
	if st.broken {
		st.close()
		p.release(nil)
		return
	}
	p.release(st)
}

// release hands st (or, for nil, a free slot) to a waiter, or keeps it.
func (p *statePool) release(st *state) {
	if st != nil && p.waiting.Load() == 0 && !p.shut.Load() && p.hot.CompareAndSwap(nil, st) {
		if p.waiting.Load() == 0 && !p.shut.Load() {
			return
		}
		if !p.hot.CompareAndSwap(st, nil) {
			return // taken already, by a waiter or by Close
		}
	}
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.waiting.Add(-1)
		p.mu.Unlock()
		w <- st
		return
	}
	if st == nil || p.closed {
		p.live--
		p.mu.Unlock()
		if st != nil {
			st.close()
		}
		return
	}
	p.idle = append(p.idle, st)
	p.mu.Unlock()
}

// close closes the idle states; states in use are closed when they come back.
func (p *statePool) close() {
	p.mu.Lock()
	p.closed = true
	p.shut.Store(true)
	idle := p.idle
	if st := p.hot.Swap(nil); st != nil {
		idle = append(idle, st)
	}
	p.idle = nil
	p.live -= len(idle)
	p.mu.Unlock()
	for _, st := range idle {
		st.close()
	}
}

// state is one sandboxed Lua state and what it keeps between runs: the functions it built
// from the installed protos, its event objects, and its time-limit context.
type state struct {
	m         *Middleware
	L         *lua.LState
	G         *lua.LTable
	protected map[*lua.LTable]string // read-only library tables
	levels    []*level               // per nesting depth (platform.api calls nest)
	depth     int                    // levels in use
	ctx       *limitCtx
	deadline  atomic.Int64  // watchdog deadline of the running script; 0 when none
	armedAt   atomic.Int64  // the watchdog's clock when deadline was armed
	armedGC   atomic.Uint64 // the GC cycles the watchdog had seen then (with a memory limit)
	// armedLimit is the limit the deadline was armed with, for messages.
	armedLimit time.Duration
	// pending is the deadline of a straight-line run, armed (stored in deadline, where the
	// watchdog sees it) only if the run does something that needs it: a platform call, a nested
	// script that can loop. 0 when none.
	pending int64

	enc         bridge.Encoder // for platform.api payloads, the store and log fields
	config      lua.LValue     // platform.config
	storeModule lua.LValue     // platform.store
	roMeta      *lua.LTable    // metatable of read-only Go values
	onError     *lua.LFunction // the error handler of a run's PCall
	// per run
	coroutines int
	logged     int    // bytes logged by the top-level run (Config.MaxLogSize)
	limitHit   bool   // a sandbox limit raised an error (KindLimit)
	trace      string // a short traceback of the last error, from the error handler
	broken     bool   // close instead of reuse
	catch      catchState
}

// levelFn is a level's function for a script, built from the script's proto.
type levelFn struct {
	src *lua.FunctionProto
	fn  *lua.LFunction
}

// level is what one nesting depth of a state needs: the global environment of its runs and the
// event object.
type level struct {
	st       *state
	env      *lua.LTable // the run's globals
	base     *lua.LTable // {event, _G}: env's __index; its own __index is G
	envMeta  *lua.LTable
	ev       *bridge.Event
	platform *platform
	fns      []levelFn    // by script slot: functions are per level (their Env, their specialized code)
	objs     levelObjects // what the level's specialized code loads directly
	dirty    bool         // the run wrote a global: replace env
	x        *exchange
	script   *script
}

func (m *Middleware) newState() (st *state, err error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    m.cfg.CallStackSize,
		RegistrySize:     1024,
		RegistryMaxSize:  m.cfg.MaxStackSlots,
		RegistryGrowStep: max(256, m.cfg.MaxStackSlots/16), // a builtin that pushes many values grows it in 16 steps at most
	})
	st = &state{m: m, L: L, ctx: newLimitCtx()}
	defer func() {
		if r := recover(); r != nil {
			L.Close()
			st, err = nil, fmt.Errorf("fastlua: creating a Lua state: %v", r)
		}
	}()
	st.openSandbox()
	st.enter()
	st.leave()
	if m.watchdog != nil {
		m.watchdog.add(st)
	}
	m.stats.statesCreated.Add(1)
	return st, nil
}

func (st *state) close() {
	if st.m.watchdog != nil {
		st.m.watchdog.remove(st)
	}
	st.L.Close()
}

// enter takes the next nesting level.
func (st *state) enter() *level {
	if st.depth == len(st.levels) {
		st.levels = append(st.levels, st.newLevel())
	}
	lv := st.levels[st.depth]
	st.depth++
	return lv
}

func (st *state) leave() { st.depth-- }

func (st *state) newLevel() *level {
	L := st.L
	lv := &level{st: st}
	lv.ev = bridge.NewEvent(L)
	lv.ev.SetMaxJSON(st.m.cfg.MaxJSONSize)
	lv.platform = st.newPlatform(lv)
	lv.base = L.CreateTable(0, 4)
	lv.base.RawSetString("event", lv.ev.Value())
	lv.base.RawSetString("platform", lv.platform.ud)
	baseMeta := L.CreateTable(0, 1)
	baseMeta.RawSetString("__index", st.G)
	lv.base.Metatable = baseMeta
	lv.envMeta = L.CreateTable(0, 3)
	lv.envMeta.RawSetString("__index", lv.base)
	lv.envMeta.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		key := L.CheckAny(2)
		checkGlobalName(L, key)
		lv.dirty = true
		L.RawSet(L.CheckTable(1), key, L.Get(3))
		return 0
	}))
	lv.envMeta.RawSetString("__metatable", lua.LFalse)
	lv.newEnv()
	lv.objs.values = lv.ev.Objects()
	lv.objs.values["platform"] = lv.platform.ud
	type fieldKey struct {
		obj, key string
		set      bool
	}
	const maxLevelFields = 1024
	fields := map[fieldKey]lua.LValue{} // one function per field, shared by the level's scripts
	lv.objs.field = func(obj, key string, set bool) lua.LValue {
		k := fieldKey{obj, key, set}
		if fn, ok := fields[k]; ok {
			return fn
		}
		g := lv.ev.FieldFunc(obj, key, set)
		if g == nil {
			return nil
		}
		fn := L.NewFunction(g)
		if len(fields) < maxLevelFields { // beyond, scripts reloaded many times: not kept
			fields[k] = fn
		}
		return fn
	}
	return lv
}

// checkGlobalName refuses to assign the read-only globals event and platform: code is
// specialized on their being fixed (see specialize.go).
func checkGlobalName(L *lua.LState, key lua.LValue) {
	if k, ok := key.(lua.LString); ok && (k == "event" || k == "platform") {
		L.RaiseError("%s is a read-only global (a local may use the name: local %s = ...)", string(k), string(k))
	}
}

// newEnv gives the level a fresh, empty global environment.
func (lv *level) newEnv() {
	lv.env = lv.st.L.CreateTable(0, 0)
	lv.env.Metatable = lv.envMeta
	lv.base.RawSetString("_G", lv.env)
	lv.dirty = false
}

// fn returns the level's function for a script, building it on first use from the script's
// proto specialized for this level (see specialize.go). Each level keeps its own: a script can
// run at two levels at once (a script whose platform.api call matches itself), and a function's
// environment and objects must stay its level's.
func (lv *level) fn(s *script) *lua.LFunction {
	if s.slot < len(lv.fns) {
		if f := lv.fns[s.slot]; f.src == s.proto {
			return f.fn
		}
	} else {
		lv.fns = append(lv.fns, make([]levelFn, s.slot+1-len(lv.fns))...)
	}
	f := lv.st.L.NewFunctionFromProto(specialize(s.proto, lv.objs))
	f.Env = lv.env
	lv.fns[s.slot] = levelFn{src: s.proto, fn: f}
	return f
}

// run runs one script at level lv and returns what it returned.
//
// The outermost run with a time limit arms the state's deadline; runs nested in it (through
// platform.api) count against it. The VM checks the deadline only while a script that can loop
// runs: a straight-line script (see straightLine) runs on gopher-lua's plain loop, with no check
// per instruction, and its deadline still bounds the platform calls it makes.
func (st *state) run(s *script, lv *level) (lua.LValue, error) {
	L := st.L
	fn := lv.fn(s)
	fn.Env = lv.env
	lv.script = s
	lv.dirty = false
	top := L.GetTop()
	if st.depth == 1 {
		st.coroutines = 0
		st.logged = 0
		st.limitHit = false
		st.catch.goPanic, st.catch.raised = "", nil
	}
	outer, checked := false, false
	limit := s.limit
	if limit <= 0 && st.m.watchdog.memLimit > 0 {
		limit = noTimeLimit // armed all the same, for the memory guard to see the run
	}
	if limit > 0 {
		if st.deadline.Load() == 0 && st.pending == 0 {
			outer = true
			st.armedLimit = limit
			if d := st.m.watchdog.deadline(limit); s.straight {
				st.pending = d // armed on demand: see arm
			} else {
				st.armedAt.Store(st.m.watchdog.now.Load())
				st.armedGC.Store(st.m.watchdog.gcCycles.Load())
				st.deadline.Store(d)
			}
		}
		if !s.straight && L.Context() == nil {
			st.arm()
			L.SetContext(st.ctx)
			checked = true
		}
	}
	err := st.pcall(fn)
	timedOut := false
	switch {
	case outer && st.pending != 0:
		// Never armed: check the coarse clock once, at the end.
		timedOut = st.m.watchdog.now.Load() > st.pending
		st.pending = 0
	case outer:
		timedOut = st.deadline.Swap(0) == deadlineFired
		if st.coroutines > 0 {
			st.ctx.dropAfterFuncs()
		}
	default:
		// A run nested in another (through platform.api): the caller's deadline passed
		// during it, whether the VM saw it (checked) or a platform call did (outOfTime).
		timedOut = st.ctx.fired.Load()
	}
	if checked {
		L.RemoveContext()
	}
	var ret lua.LValue = lua.LNil
	if err == nil {
		ret = L.Get(-1)
	}
	L.SetTop(top)
	if lv.dirty {
		lv.newEnv()
	}
	if st.catch.goPanic != "" {
		// A Go panic, whatever caught it (see "Go panics" in sandbox.go): the state is closed,
		// the client gets a generic message, the log Go's text.
		st.broken = true
		return lua.LNil, &ScriptError{Script: s.Name, Kind: KindPanic, Status: 500, Message: goPanicMessage,
			Traceback: "Go panic: " + st.catch.goPanic + "\n" + st.trace, Err: errors.New("fastlua: Go panic: " + st.catch.goPanic)}
	}
	if timedOut {
		st.broken = true
		if st.ctx.memory.Load() {
			return lua.LNil, &ScriptError{Script: s.Name, Kind: KindLimit, Status: 500,
				Message: fmt.Sprintf("stopped: the heap grew past the memory limit of %d MiB (Config.MemoryLimit) while it ran", st.m.watchdog.memLimit>>20)}
		}
		return lua.LNil, &ScriptError{Script: s.Name, Kind: KindTimeout, Status: 500,
			Message: fmt.Sprintf("exceeded its time limit of %v", st.armedLimit)}
	}
	if err != nil {
		se := scriptErrorFrom(s, err)
		if st.limitHit && se.Kind == KindRuntime {
			se.Kind = KindLimit
		}
		se.Traceback = st.trace
		if se.Kind == KindPanic && se.Err != nil {
			se.Traceback = se.Err.Error() + "\n" + se.Traceback // the Go error, for the log only
		}
		if se.Kind == KindPanic || se.Kind == KindLimit {
			st.broken = true // a state that panicked or hit a limit is closed, not reused
		}
		return lua.LNil, se
	}
	return ret, nil
}

// pcall runs fn. gopher-lua's PCall recovers the script's errors, but its recovery can itself
// fail (with an error handler, it pushes the handler before it resets a full value stack: a
// registry overflow then panics out of PCall). Such a state cannot be trusted: it is marked
// broken, and closed instead of reused.
func (st *state) pcall(fn *lua.LFunction) (err error) {
	defer func() {
		if r := recover(); r != nil {
			st.broken = true
			st.limitHit = true
			err = &lua.ApiError{Type: lua.ApiErrorRun, Object: lua.LString(fmt.Sprintf("the Lua state failed: %v", r))}
		}
	}()
	st.L.Push(fn)
	return st.L.PCall(0, 1, st.onError)
}

// arm makes a pending deadline visible to the watchdog.
func (st *state) arm() {
	if st.pending != 0 {
		st.armedAt.Store(st.m.watchdog.now.Load())
		st.armedGC.Store(st.m.watchdog.gcCycles.Load())
		st.deadline.Store(st.pending)
		st.pending = 0
	}
}

// noTimeLimit stands for "no time limit" where a deadline must be armed anyway (for the memory
// guard): about 73 years.
const noTimeLimit = time.Duration(1 << 61)

// logAttrs names the running script and event for log records.
func (st *state) logAttrs() []any {
	if st.depth == 0 {
		return nil
	}
	lv := st.levels[st.depth-1]
	attrs := make([]any, 0, 2)
	if lv.script != nil {
		attrs = append(attrs, slog.String("script", lv.script.Name))
	}
	if lv.x != nil {
		attrs = append(attrs, slog.String("event", lv.x.Name()))
	}
	return attrs
}
