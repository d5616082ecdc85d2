package fastlua

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"
	luar "layeh.com/gopher-luar"
)

// The sandbox.
//
// A state opens base, table, string, math, os and coroutine, then builds its own global table G
// from them: the base functions without dofile, loadfile, load, loadstring, module, getfenv,
// setfenv, collectgarbage and newproxy; os reduced to time, clock, date and difftime; string
// without dump. Library tables are read-only proxies (writes raise an error; rawset, table.insert,
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
// globals of the same name.
var builtinModules = []string{"string", "table", "math", "os", "coroutine", "json", "log"}

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

	for _, name := range []string{"assert", "error", "ipairs", "next", "pcall", "rawequal", "rawget",
		"select", "tonumber", "tostring", "type", "unpack", "xpcall", "getmetatable", "_VERSION"} {
		G.RawSetString(name, global.RawGetString(name))
	}
	baseNext := global.RawGetString("next").(*lua.LFunction)
	baseSetMetatable := global.RawGetString("setmetatable").(*lua.LFunction)
	G.RawSetString("pairs", L.NewFunction(func(L *lua.LState) int { return st.pairs(L, baseNext) }))
	G.RawSetString("rawset", L.NewFunction(st.rawset))
	G.RawSetString("setmetatable", L.NewFunction(func(L *lua.LState) int {
		tb, ok := L.Get(1).(*lua.LTable)
		if !ok {
			L.ArgError(1, "table expected, got "+L.Get(1).Type().String())
		}
		st.checkTableWrite(L, tb, "setmetatable")
		return callOriginal(L, baseSetMetatable)
	}))
	G.RawSetString("print", L.NewFunction(st.print))
	G.RawSetString("require", L.NewFunction(st.require))

	// string: capped allocators, no dump.
	str := copyTable(L, global.RawGetString("string").(*lua.LTable), "dump", "gfind")
	origFormat := str.RawGetString("format").(*lua.LFunction)
	str.RawSetString("rep", L.NewFunction(st.strRep))
	str.RawSetString("gsub", L.NewFunction(st.strGsub))
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		n := callOriginal(L, origFormat)
		if s, ok := L.Get(-1).(lua.LString); ok && len(s) > st.m.cfg.MaxStringSize {
			st.raiseStringLimit(L, "string.format", len(s))
		}
		return n
	}))
	for _, name := range []string{"find", "match", "gmatch"} {
		orig := str.RawGetString(name).(*lua.LFunction)
		str.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			st.checkPattern(L, name)
			return callOriginal(L, orig)
		}))
	}
	// The string metatable: methods come from the capped table, and it cannot be read or changed.
	strMeta := L.CreateTable(0, 2)
	strMeta.RawSetString("__index", str)
	strMeta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(lua.LString(""), strMeta)

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
	origConcat := tbl.RawGetString("concat").(*lua.LFunction)
	tbl.RawSetString("concat", L.NewFunction(func(L *lua.LState) int {
		st.checkConcat(L)
		return callOriginal(L, origConcat)
	}))

	osLib := L.CreateTable(0, 4)
	osAll := global.RawGetString("os").(*lua.LTable)
	for _, name := range []string{"time", "clock", "date", "difftime"} {
		osLib.RawSetString(name, osAll.RawGetString(name))
	}

	co := copyTable(L, global.RawGetString("coroutine").(*lua.LTable))
	for _, name := range []string{"create", "wrap"} {
		orig := co.RawGetString(name).(*lua.LFunction)
		what := "coroutine." + name
		co.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			st.coroutines++
			if st.coroutines > maxCoroutines {
				L.RaiseError("%s: a script may create at most %d coroutines per run", what, maxCoroutines)
			}
			return callOriginal(L, orig)
		}))
	}

	G.RawSetString("string", st.readOnly(L, "string", str))
	G.RawSetString("table", st.readOnly(L, "table", tbl))
	G.RawSetString("math", st.readOnly(L, "math", global.RawGetString("math").(*lua.LTable)))
	G.RawSetString("os", st.readOnly(L, "os", osLib))
	G.RawSetString("coroutine", st.readOnly(L, "coroutine", co))
	G.RawSetString("json", st.readOnly(L, "json", bridge.NewJSONModule(L)))
	G.RawSetString("log", st.newLogModule(L))

	// platform pieces shared by the levels. luar exposes data only: no methods.
	luar.GetConfig(L).MethodNames = func(reflect.Type, reflect.Method) []string { return nil }
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

// print writes its arguments, separated by tabs, to the log at info level.
func (st *state) print(L *lua.LState) int {
	n := L.GetTop()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	st.m.logger.Info(b.String(), st.logAttrs()...)
	return 0
}

func (st *state) raiseStringLimit(L *lua.LState, what string, size int) {
	L.RaiseError("%s: the result would be %d bytes, more than the string limit of %d bytes (Config.MaxStringSize)", what, size, st.m.cfg.MaxStringSize)
}

func (st *state) strRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || s == "" {
		L.Push(lua.LString(""))
		return 1
	}
	if max := st.m.cfg.MaxStringSize; n > max/len(s) {
		st.raiseStringLimit(L, "string.rep", len(s)*min(n, max+1))
	}
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// maxPattern bounds the length of a Lua pattern: gopher-lua's matcher is recursive.
const maxPattern = 4096

func (st *state) checkPattern(L *lua.LState, what string) {
	if p, ok := L.Get(2).(lua.LString); ok && len(p) > maxPattern {
		if what == "find" && lua.LVAsBool(L.Get(4)) {
			return // plain find: not a pattern
		}
		L.RaiseError("string.%s: the pattern is %d bytes, more than the limit of %d", what, len(p), maxPattern)
	}
}

func (st *state) checkConcat(L *lua.LState) {
	tb := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, tb.Len())
	total := 0
	for k := i; k <= j; k++ {
		switch v := tb.RawGetInt(k).(type) {
		case lua.LString:
			total += len(v)
		case lua.LNumber:
			total += 24
		}
		if k > i {
			total += len(sep)
		}
		if total > st.m.cfg.MaxStringSize {
			st.raiseStringLimit(L, "table.concat", total)
		}
	}
}

// strGsub is string.gsub in linear time with the result capped. (gopher-lua's own rebuilds the
// whole string for every match, which is quadratic and cannot be interrupted.)
func (st *state) strGsub(L *lua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	st.checkPattern(L, "gsub")
	repl := L.Get(3)
	switch repl.(type) {
	case lua.LString, lua.LNumber, *lua.LTable, *lua.LFunction:
	default:
		L.ArgError(3, "string/function/table expected, got "+repl.Type().String())
	}
	limit := L.OptInt(4, -1)
	mds, err := pm.Find(pat, []byte(src), 0, limit)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	max := st.m.cfg.MaxStringSize
	var b strings.Builder
	last := 0
	for _, md := range mds {
		start, end := md.Capture(0), md.Capture(1)
		b.WriteString(src[last:start])
		whole := src[start:end]
		var rv lua.LValue
		switch r := repl.(type) {
		case lua.LString, lua.LNumber:
			st.expandRepl(L, &b, r.String(), md, src)
			rv = nil
		case *lua.LTable:
			rv = L.GetTable(r, firstCapture(md, src))
		case *lua.LFunction:
			L.Push(r)
			n := pushCaptures(L, md, src)
			L.Call(n, 1)
			rv = L.Get(-1)
			L.Pop(1)
		}
		if rv != nil {
			switch v := rv.(type) {
			case *lua.LNilType:
				b.WriteString(whole)
			case lua.LBool:
				if v {
					L.RaiseError("invalid replacement value (a boolean)")
				}
				b.WriteString(whole)
			case lua.LString, lua.LNumber:
				b.WriteString(v.String())
			default:
				L.RaiseError("invalid replacement value (a %s)", v.Type().String())
			}
		}
		last = end
		if b.Len() > max {
			st.raiseStringLimit(L, "string.gsub", b.Len())
		}
	}
	b.WriteString(src[last:])
	if b.Len() > max {
		st.raiseStringLimit(L, "string.gsub", b.Len())
	}
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(len(mds)))
	return 2
}

// expandRepl appends a replacement string with %0-%9 and %% expanded, as Lua 5.1 does.
func (st *state) expandRepl(L *lua.LState, b *strings.Builder, repl string, md *pm.MatchData, src string) {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		d := repl[i]
		if d < '0' || d > '9' {
			b.WriteByte(d)
			continue
		}
		idx := int(d - '0')
		if idx == 0 {
			b.WriteString(src[md.Capture(0):md.Capture(1)])
			continue
		}
		if 2*idx >= md.CaptureLength() {
			if idx == 1 && md.CaptureLength() == 2 {
				b.WriteString(src[md.Capture(0):md.Capture(1)])
				continue
			}
			L.RaiseError("invalid capture index %%%d", idx)
		}
		if md.IsPosCapture(2 * idx) {
			fmt.Fprint(b, md.Capture(2*idx))
		} else {
			b.WriteString(src[md.Capture(2*idx):md.Capture(2*idx+1)])
		}
	}
}

func captureValue(md *pm.MatchData, src string, i int) lua.LValue {
	if md.IsPosCapture(i) {
		return lua.LNumber(md.Capture(i))
	}
	return lua.LString(src[md.Capture(i):md.Capture(i+1)])
}

func firstCapture(md *pm.MatchData, src string) lua.LValue {
	if md.CaptureLength() > 2 {
		return captureValue(md, src, 2)
	}
	return captureValue(md, src, 0)
}

func pushCaptures(L *lua.LState, md *pm.MatchData, src string) int {
	if md.CaptureLength() == 2 {
		L.Push(captureValue(md, src, 0))
		return 1
	}
	n := 0
	for i := 2; i < md.CaptureLength(); i += 2 {
		L.Push(captureValue(md, src, i))
		n++
	}
	return n
}
