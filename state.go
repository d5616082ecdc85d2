package fastlua

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// A state: one sandboxed gopher-lua LState, the functions it built from each proto, and its
// levels (one per nesting depth of platform.api), each with its own bound event objects.

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

	enc         bridge.Encoder        // for platform.api payloads, the store and log fields
	json        bridge.Interner       // for json.decode and platform.api results
	results     apiResults            // platform.api result tables, reused from one top-level run to the next
	config      lua.LValue            // platform.config
	storeModule lua.LValue            // platform.store
	roMeta      *lua.LTable           // metatable of read-only Go values
	emptyRO     map[string]lua.LValue // empty read-only tables by name (readOnlyGo)
	onError     *lua.LFunction        // the error handler of a run's PCall
	// per run
	coroutines int
	logged     int    // bytes logged by the top-level run (Config.MaxLogSize)
	limitHit   bool   // a sandbox limit raised an error (KindLimit)
	trace      string // a short traceback of the last error, from the error handler
	broken     bool   // close instead of reuse
	shard      uint32 // the pool's hot slot it goes back to (statePool.getOn)
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
	lv.ev.SetJSONDecoding(st.m.cfg.MaxJSONExpansion, st.checkTime)
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
	lv.objs.values[concatName] = L.NewFunction(st.concat)
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
// specialized on their being fixed (see specialize.go). The name every `..` chain calls
// (concat.go) is refused too: it is never defined, and a script may not define it.
func checkGlobalName(L *lua.LState, key lua.LValue) {
	if k, ok := key.(lua.LString); ok && (k == "event" || k == "platform") {
		L.RaiseError("%s is a read-only global (a local may use the name: local %s = ...)", string(k), string(k))
	}
	if key == lua.LString(concatName) {
		L.RaiseError("%s is reserved for concatenation", concatName)
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

// unbind detaches a level from its exchange after a phase.
func (lv *level) unbind() {
	lv.ev.Unbind()
	lv.platform.unbind()
	lv.x, lv.script = nil, nil
}

// checkTime is the step hook of long Go work inside one builtin call: a JSON decode (every MiB
// of values), the Lua pattern matcher (every few thousand steps) and the library modules' long
// iterations. Such work is as slow as a platform call, so it arms a pending deadline, and it
// stops once the watchdog has fired (the time limit, or Config.MemoryLimit), as the VM would at
// its next instruction.
func (st *state) checkTime() error {
	st.arm()
	if st.ctx.fired.Load() {
		return errTimeLimit
	}
	return nil
}
