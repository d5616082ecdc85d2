package fastlua

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"

	"github.com/fastlua/fastlua/bridge"
	"github.com/fastlua/fastlua/internal/luanum"
	"github.com/fastlua/fastlua/internal/modules"
	lua "github.com/yuin/gopher-lua"
	luar "layeh.com/gopher-luar"
)

// The sandbox.
//
// A state opens base, table, string, math, os and coroutine, then builds its own global table G
// from them: the base functions without dofile, loadfile, load, loadstring, module, getfenv,
// setfenv, collectgarbage and newproxy; os reduced to time, clock, date and difftime; string
// without dump; json, log and the library modules of internal/modules (crypto, base64, url, re,
// uuid, time), opened once per state. Library tables are read-only proxies (writes raise an error; rawset, table.insert,
// table.remove, table.sort and setmetatable refuse them), and the string metatable is protected.
//
// G is never reachable from a script. A script's globals live in an environment table of its
// own run: env (empty) --__index--> base {event, _G = env} --__index--> G. Assigning a global
// goes to env through env's __newindex, which marks the run dirty; a dirty env is replaced after
// the run. So globals never reach another run, and a clean run costs nothing to reset.

// maxCoroutines bounds the coroutines one run may create: each is a Lua thread with its own
// stacks, so an unbounded number is a memory bomb.
const maxCoroutines = 64

// Libraries a script may load with require, by name. They are the same read-only tables as the
// globals of the same name: Lua's, json, log and metrics, and the library modules of internal/modules
// (crypto, base64, url, re, uuid, time).
var builtinModules = append([]string{"string", "table", "math", "os", "coroutine", "json", "log", "metrics"}, modules.Names()...)

func (st *state) openSandbox() {
	L := st.L
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	global := L.G.Global
	G := L.CreateTable(0, 32)
	st.G = G
	st.protected = map[*lua.LTable]string{}

	for _, name := range []string{"assert", "error", "ipairs", "next", "rawequal",
		"select", "type", "_VERSION"} {
		G.RawSetString(name, global.RawGetString(name))
	}
	// rawget and getmetatable see a lazily decoded JSON object as the table it is (bridge.MaterializeJSON).
	for _, name := range []string{"rawget", "getmetatable"} {
		orig := global.RawGetString(name).(*lua.LFunction)
		G.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			bridge.MaterializeJSON(L, L.Get(1))
			return callOriginal(L, orig)
		}))
	}
	origUnpack := global.RawGetString("unpack").(*lua.LFunction)
	baseNext := global.RawGetString("next").(*lua.LFunction)
	baseSetMetatable := global.RawGetString("setmetatable").(*lua.LFunction)
	G.RawSetString("pairs", L.NewFunction(func(L *lua.LState) int { return st.pairs(L, baseNext) }))
	G.RawSetString("next", bridge.NextFunction(L, baseNext)) // the event objects too
	G.RawSetString("rawset", L.NewFunction(st.rawset))
	G.RawSetString("setmetatable", L.NewFunction(func(L *lua.LState) int {
		tb, ok := L.Get(1).(*lua.LTable)
		if !ok {
			L.ArgError(1, "table expected, got "+L.Get(1).Type().String())
		}
		st.checkTableWrite(L, tb, "setmetatable")
		bridge.MaterializeJSON(L, tb)
		return callOriginal(L, baseSetMetatable)
	}))
	G.RawSetString("print", L.NewFunction(st.print))
	// tonumber without a base (or base 10) reads what Lua 5.1 reads ("1e3", "010" as ten, any
	// magnitude) and what tostring writes; other bases are gopher-lua's.
	origToNumber := global.RawGetString("tonumber").(*lua.LFunction)
	G.RawSetString("tonumber", L.NewFunction(func(L *lua.LState) int {
		if s, ok := L.CheckAny(1).(lua.LString); ok && (L.Get(2) == lua.LNil || L.Get(2) == lua.LNumber(10)) {
			if f, ok := luanum.Parse(string(s)); ok {
				L.Push(lua.LNumber(f))
			} else {
				L.Push(lua.LNil)
			}
			return 1
		}
		return callOriginal(L, origToNumber)
	}))
	G.RawSetString("tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(toText(L, L.CheckAny(1))))
		return 1
	}))
	// pcall and xpcall: fastlua's, so that no catcher goes on after a Go panic (see protect).
	st.openCatchers(L)
	G.RawSetString("pcall", L.NewFunction(st.scriptPcall))
	G.RawSetString("xpcall", L.NewFunction(st.scriptXpcall))
	G.RawSetString("unpack", L.NewFunction(func(L *lua.LState) int {
		tb := L.CheckTable(1)
		i, j := L.OptInt(2, 1), L.OptInt(3, tb.Len())
		st.checkResults(L, "unpack", i, j)
		return callOriginal(L, origUnpack)
	}))
	// The handler of a run's own PCall keeps a short traceback for the log, and notes a Go
	// panic that no catcher saw.
	st.onError = L.NewFunction(func(L *lua.LState) int {
		if goPanicking() {
			st.notePanic(L.Get(1).String())
		}
		st.trace = shortTraceback(L, 12)
		return 1
	})
	G.RawSetString("require", L.NewFunction(st.require))

	// string: capped allocators and fastlua's Lua patterns (strlib.go); no dump.
	str := st.openString(L, global.RawGetString("string").(*lua.LTable))

	// table: writers refuse read-only tables, concat is capped.
	tbl := copyTable(L, global.RawGetString("table").(*lua.LTable))
	for _, name := range []string{"insert", "remove", "sort"} {
		orig := tbl.RawGetString(name).(*lua.LFunction)
		what := "table." + name
		tbl.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			st.checkTableWrite(L, L.CheckTable(1), what)
			return callOriginal(L, orig)
		}))
	}
	tbl.RawSetString("concat", L.NewFunction(st.tableConcat))

	osLib := L.CreateTable(0, 4)
	osAll := global.RawGetString("os").(*lua.LTable)
	for _, name := range []string{"time", "clock", "difftime"} {
		osLib.RawSetString(name, osAll.RawGetString(name))
	}
	origDate := osAll.RawGetString("date").(*lua.LFunction)
	clock := st.m.cfg.Clock
	osLib.RawSetString("date", L.NewFunction(func(L *lua.LState) int {
		// Each conversion can write ~25 bytes: a long format would be a large string at once.
		if f, ok := L.Get(1).(lua.LString); ok && len(f) > 256 {
			st.raiseLimit(L, "os.date: the format is %d bytes, more than the limit of 256", len(f))
		}
		if clock != nil && L.GetTop() < 2 {
			if L.GetTop() == 0 {
				L.Push(lua.LString("%c"))
			}
			L.Push(lua.LNumber(clock().Unix()))
		}
		return callOriginal(L, origDate)
	}))
	if clock != nil {
		origTime := osAll.RawGetString("time").(*lua.LFunction)
		osLib.RawSetString("time", L.NewFunction(func(L *lua.LState) int {
			if L.GetTop() == 0 || L.Get(1) == lua.LNil {
				L.Push(lua.LNumber(clock().Unix()))
				return 1
			}
			return callOriginal(L, origTime)
		}))
	}

	co := copyTable(L, global.RawGetString("coroutine").(*lua.LTable))
	// yield only where gopher-lua can resume: from the coroutine's own VM loop. When Go sits
	// between the yield and the coroutine's body (a metamethod the VM or tostring/pairs calls,
	// pcall, a sort comparator, a gsub callback), gopher-lua runs a nested VM loop that a yield
	// unwinds wrongly, failing later with Go runtime errors. Lua 5.1 refuses the same ("attempt
	// to yield across a C-call boundary").
	rawYield := L.NewFunction(func(L *lua.LState) int {
		if !yieldable() {
			// level 3: the line of the script that called coroutine.yield (1 is this function, 2 the Lua wrapper)
			L.Error(lua.LString("coroutine.yield: attempt to yield across a metamethod, pcall, a sort comparator or a gsub callback; yield from the coroutine's own code"), 3)
		}
		return -1 // what gopher-lua's own yield returns: the VM switches to the resumer
	})
	// A Go function that is tail-called ("return coroutine.yield(x)") has its caller's frame
	// removed before it runs to completion, and a yield then resumes into nothing. Scripts get
	// a Lua function that calls the Go yield with a plain call: a tail call to it is a Lua tail
	// call, which gopher-lua handles.
	wrapYield, err := L.LoadString("local yield = ... local function pass(...) return ... end return function(...) return pass(yield(...)) end")
	if err != nil {
		panic(err) // constant source
	}
	L.Push(wrapYield)
	L.Push(rawYield)
	L.Call(1, 1)
	co.RawSetString("yield", L.Get(-1))
	L.Pop(1)
	st.openCoroutines(L, co, global.RawGetString("coroutine").(*lua.LTable).RawGetString("yield").(*lua.LFunction))
	G.RawSetString("string", st.readOnly(L, "string", str))
	G.RawSetString("table", st.readOnly(L, "table", tbl))
	G.RawSetString("math", st.readOnly(L, "math", global.RawGetString("math").(*lua.LTable)))
	G.RawSetString("os", st.readOnly(L, "os", osLib))
	G.RawSetString("coroutine", st.readOnly(L, "coroutine", co))
	st.json = bridge.Interner{Expansion: st.m.cfg.MaxJSONExpansion, Check: st.checkTime}
	G.RawSetString("json", st.readOnly(L, "json", bridge.NewJSONModule(L, st.m.cfg.MaxJSONSize, &st.json)))
	G.RawSetString("log", st.newLogModule(L))
	G.RawSetString("metrics", st.readOnly(L, "metrics", st.newMetricsModule(L)))
	// The library modules, built once per state: sized by the string limit, their long
	// iterations stopped by the time limit (checkTime), a broken limit counted as KindLimit.
	mods := modules.Open(L, modules.Options{
		MaxString: st.m.cfg.MaxStringSize,
		Step:      st.checkTime,
		OnLimit:   func() { st.limitHit = true },
		Now:       clock, // nil: the system clock
	})
	for _, name := range modules.Names() {
		G.RawSetString(name, st.readOnly(L, name, mods[name]))
	}

	// platform pieces shared by the levels. luar exposes data only: no methods.
	luar.GetConfig(L).MethodNames = func(reflect.Type, reflect.Method) []string { return nil }
	st.enc.Max = st.m.cfg.MaxJSONSize
	st.roMeta = st.newROMeta(L)
	st.config = st.readOnlyGo(L, "platform.config", st.m.cfg.PlatformConfig)
	st.storeModule = st.newStoreModule(L)
}

// callOriginal calls the builtin a wrapper stands in for with the wrapper's arguments and
// returns its results. (Calling its GFunction directly would run it without its own upvalues.)
func callOriginal(L *lua.LState, orig *lua.LFunction) int {
	n := L.GetTop()
	L.Insert(orig, 1)
	L.Call(n, lua.MultRet)
	return L.GetTop()
}

// shortTraceback lists up to max frames of L's stack as "script:line" (or the Go function).
func shortTraceback(L *lua.LState, max int) string {
	var b strings.Builder
	b.WriteString("stack traceback:")
	for level := 1; level <= max; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return b.String()
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			return b.String()
		}
		if dbg.CurrentLine > 0 {
			fmt.Fprintf(&b, "\n\tline %d", dbg.CurrentLine)
		} else {
			b.WriteString("\n\t[Go function]")
		}
	}
	b.WriteString("\n\t...")
	return b.String()
}

// copyTable makes a shallow copy of a library table without the named entries.
func copyTable(L *lua.LState, src *lua.LTable, without ...string) *lua.LTable {
	dst := L.CreateTable(0, 16)
	src.ForEach(func(k, v lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			for _, w := range without {
				if string(s) == w {
					return
				}
			}
		}
		dst.RawSet(k, v)
	})
	return dst
}

// readOnly returns an empty proxy table that reads from real and refuses writes.
func (st *state) readOnly(L *lua.LState, name string, real *lua.LTable) *lua.LTable {
	proxy := L.CreateTable(0, 0)
	mt := L.CreateTable(0, 4)
	mt.RawSetString("__index", real)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("the %s library is read-only", name)
		return 0
	}))
	// pairs(string) walks the real table without handing it out.
	iter := L.NewFunction(func(L *lua.LState) int {
		k, v := real.Next(L.Get(2))
		if k == lua.LNil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(k)
		L.Push(v)
		return 2
	})
	mt.RawSetString("__pairs", L.NewFunction(func(L *lua.LState) int {
		L.Push(iter)
		L.Push(L.Get(1))
		L.Push(lua.LNil)
		return 3
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	proxy.Metatable = mt
	st.protected[proxy] = name
	return proxy
}

// checkTableWrite raises an error if tb is a read-only library table, and marks the run dirty
// if tb is a run's global environment (a raw write bypasses the environment's __newindex).
func (st *state) checkTableWrite(L *lua.LState, tb *lua.LTable, what string) {
	if name, ok := st.protected[tb]; ok {
		L.RaiseError("%s: the %s library is read-only", what, name)
	}
	for _, lv := range st.levels {
		if lv.env == tb {
			lv.dirty = true
		}
	}
}

func (st *state) rawset(L *lua.LState) int {
	tb := L.CheckTable(1)
	st.checkTableWrite(L, tb, "rawset")
	bridge.MaterializeJSON(L, tb)
	for _, lv := range st.levels {
		if lv.env == tb {
			checkGlobalName(L, L.Get(2))
		}
	}
	L.RawSet(tb, L.CheckAny(2), L.CheckAny(3))
	L.SetTop(1)
	return 1
}

// pairs supports a __pairs metamethod (as Lua 5.2 does), so event.request.headers and the
// library tables can be iterated; otherwise it returns next, t, nil as Lua 5.1 does.
func (st *state) pairs(L *lua.LState, next *lua.LFunction) int {
	var mt lua.LValue = lua.LNil
	switch v := L.Get(1).(type) {
	case *lua.LTable:
		mt = v.Metatable
	case *lua.LUserData:
		mt = v.Metatable
	}
	if mtt, ok := mt.(*lua.LTable); ok {
		if fn := mtt.RawGetString("__pairs"); fn != lua.LNil {
			L.SetTop(1)
			L.Insert(fn, 1)
			L.Call(1, 3)
			return 3
		}
	}
	tb := L.CheckTable(1)
	L.Push(next)
	L.Push(tb)
	L.Push(lua.LNil)
	return 3
}

// require returns a built-in module; nothing is loaded from files.
func (st *state) require(L *lua.LState) int {
	name := L.CheckString(1)
	for _, m := range builtinModules {
		if m == name {
			L.Push(st.G.RawGetString(name))
			return 1
		}
	}
	L.RaiseError("module %q not found: require loads only the built-in modules (%s)", name, strings.Join(builtinModules, ", "))
	return 0
}

// raiseLimit raises the error of a broken sandbox limit, marking the run for KindLimit.
func (st *state) raiseLimit(L *lua.LState, format string, args ...any) {
	st.limitHit = true
	L.RaiseError(format, args...)
}

// yieldable reports whether a yield from here returns to the coroutine's own VM loop: the Go
// stack holds one gopher-lua VM loop between here and the coroutine's threadRun. Outside a
// coroutine it reports true and gopher-lua refuses the yield itself.
func yieldable() bool {
	var pcs [256]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	loops := 0
	for {
		f, more := frames.Next()
		switch f.Function {
		case "github.com/yuin/gopher-lua.mainLoop", "github.com/yuin/gopher-lua.mainLoopWithContext":
			loops++
		case "github.com/yuin/gopher-lua.threadRun":
			return loops == 1
		}
		if !more {
			return n < len(pcs) // not in a coroutine; a stack too deep to see through is refused
		}
	}
}

// checkResults refuses, before any is pushed, a call that would return the values i..j: more
// than the value stack can hold (Config.MaxStackSlots). i and j are the range the builtin walks,
// as it walks it (unpack({}, -100000, 0) is 100001 values).
func (st *state) checkResults(L *lua.LState, what string, i, j int) {
	if max := st.m.cfg.MaxStackSlots; j >= i && uint(j-i) >= uint(max) { // j-i as uint: no overflow
		st.raiseLimit(L, "%s: %.0f results, more than the value stack holds (Config.MaxStackSlots, %d)", what, float64(j)-float64(i)+1, max)
	}
}
