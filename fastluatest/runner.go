package fastluatest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// A test file runs in two steps, as in busted: its top level (and the describe bodies) runs
// first and registers the tests; then each test runs, with the before_each and after_each
// functions of its groups, on a harness reset for it.

type test struct {
	name    string
	fn      *lua.LFunction
	befores []*lua.LFunction // outermost group first
	afters  []*lua.LFunction // innermost group first
}

type group struct {
	names   []string
	befores []*lua.LFunction
	afters  []*lua.LFunction
}

// collector registers the tests of a file while its top level runs.
type collector struct {
	stack []*group
	tests []test
}

func (c *collector) top() *group { return c.stack[len(c.stack)-1] }

// assertTag marks the error tables of failed assertions.
const assertTag = "__fastlua_assert"

// runFile runs one test file: each is called once per test, in order, with a function that
// runs it (the caller may run it in a Go subtest).
func runFile(dir, file string, opt Options, each func(name string, run func() Result)) {
	fail := func(name string, err error) {
		each(name, func() Result { return Result{File: file, Name: name, Message: err.Error()} })
	}
	scripts, err := loadScripts(dir)
	if err == nil && len(scripts) > 0 {
		// Compiled once up front: a script that does not compile fails the directory, not each request.
		var m *fastlua.Middleware
		if m, err = fastlua.New(fastlua.Config{Scripts: scripts, Logger: slog.New(slog.DiscardHandler)}); err == nil {
			_ = m.Close(context.Background())
		}
	}
	if err != nil {
		fail("loading the scripts", err)
		return
	}
	src, err := os.ReadFile(file)
	if err != nil {
		fail(filepath.Base(file), err)
		return
	}
	h, err := newHarness(scripts, opt)
	if err != nil {
		fail(filepath.Base(file), err)
		return
	}
	defer h.close()

	L := lua.NewState()
	defer L.Close()
	h.L = L
	chunk := filepath.Base(file)
	c := &collector{stack: []*group{{}}}
	h.openAPI(L, c, chunk)
	fn, err := L.Load(strings.NewReader(string(src)), chunk)
	if err != nil {
		r := Result{File: file, Name: chunk, Message: err.Error()}
		if m := syntaxError.FindStringSubmatch(strings.TrimSpace(err.Error())); m != nil {
			r.Line, _ = strconv.Atoi(m[1])
			r.Message = strings.TrimSpace(m[3]) + " near " + m[2]
		}
		each(r.Name, func() Result { return r })
		return
	}
	L.Push(fn)
	if err := L.PCall(0, 0, nil); err != nil {
		r := resultOf(file, chunk, "", err)
		r.Name = chunk
		each(r.Name, func() Result { return r })
		return
	}
	if len(c.tests) == 0 {
		fail(chunk, errors.New("the file defines no tests (it(name, fn))"))
		return
	}
	for _, t := range c.tests {
		each(t.name, func() Result { return h.runTest(file, chunk, t) })
	}
}

// runTest runs one test on a reset harness.
func (h *harness) runTest(file, chunk string, t test) Result {
	h.reset()
	L := h.L
	call := func(fn *lua.LFunction) error {
		L.Push(fn)
		err := L.PCall(0, 0, nil)
		L.SetTop(0)
		return err
	}
	var err error
	for _, b := range t.befores {
		if err = call(b); err != nil {
			break
		}
	}
	if err == nil {
		err = call(t.fn)
	}
	for _, a := range t.afters {
		if aerr := call(a); err == nil {
			err = aerr
		}
	}
	if err == nil {
		err = h.handlerErr
	}
	return resultOf(file, chunk, t.name, err)
}

// resultOf makes the result of a test that ended with err.
func resultOf(file, chunk, name string, err error) Result {
	r := Result{File: file, Name: name, Passed: err == nil}
	if err == nil {
		return r
	}
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		r.Message = err.Error()
		return r
	}
	switch obj := ae.Object.(type) {
	case *lua.LTable:
		if obj.RawGetString(assertTag) == lua.LTrue {
			r.Message = lua.LVAsString(obj.RawGetString("message"))
			r.Line = int(lua.LVAsNumber(obj.RawGetString("line")))
			return r
		}
		r.Message = "error " + show(obj)
	case lua.LString:
		r.Line, r.Message = splitPosition(chunk, string(obj))
	default:
		r.Message = "error " + show(ae.Object)
	}
	if r.Line == 0 {
		r.Line = lineIn(ae.StackTrace, chunk)
	}
	return r
}

// splitPosition takes the "chunk:12: " prefix off an error message.
func splitPosition(chunk, msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, chunk+":")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return n, strings.TrimSpace(text)
}

// lineIn finds the first line of chunk in a traceback.
func lineIn(traceback, chunk string) int {
	m := regexp.MustCompile(regexp.QuoteMeta(chunk) + `:(\d+):`).FindStringSubmatch(traceback)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// loadScripts reads dir's scripts as the middleware does.
func loadScripts(dir string) ([]fastlua.Script, error) {
	list, err := fastlua.LoadScripts(os.DirFS(dir), ".")
	for i := range list {
		list[i].File = filepath.Join(dir, list[i].File)
	}
	return list, err
}

// callerLine is the line of chunk the running Go function was called from (the innermost
// frame of the test file), or 0.
func callerLine(L *lua.LState, chunk string) int {
	for level := 1; level < 64; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			continue
		}
		if dbg.Source == chunk && dbg.CurrentLine > 0 {
			return dbg.CurrentLine
		}
	}
	return 0
}

// failAssert raises a failed assertion's error.
func failAssert(L *lua.LState, chunk, msg string) {
	tb := L.NewTable()
	tb.RawSetString(assertTag, lua.LTrue)
	tb.RawSetString("message", lua.LString(msg))
	tb.RawSetString("line", lua.LNumber(callerLine(L, chunk)))
	L.Error(tb, 0)
}

// openAPI sets the test API's globals in L.
func (h *harness) openAPI(L *lua.LState, c *collector, chunk string) {
	L.SetGlobal("json", bridge.NewJSONModule(L, 64<<20, nil))
	L.SetGlobal("describe", L.NewFunction(func(L *lua.LState) int {
		name, fn := L.CheckString(1), L.CheckFunction(2)
		parent := c.top()
		g := &group{names: append(append([]string(nil), parent.names...), name),
			befores: append([]*lua.LFunction(nil), parent.befores...), afters: append([]*lua.LFunction(nil), parent.afters...)}
		c.stack = append(c.stack, g)
		defer func() { c.stack = c.stack[:len(c.stack)-1] }()
		L.Call(0, 0) // fn is at the top
		_ = fn
		return 0
	}))
	L.SetGlobal("it", L.NewFunction(func(L *lua.LState) int {
		name, fn := L.CheckString(1), L.CheckFunction(2)
		g := c.top()
		c.tests = append(c.tests, test{name: strings.Join(append(append([]string(nil), g.names...), name), " "), fn: fn,
			befores: append([]*lua.LFunction(nil), g.befores...), afters: append([]*lua.LFunction(nil), g.afters...)})
		return 0
	}))
	L.SetGlobal("before_each", L.NewFunction(func(L *lua.LState) int {
		g := c.top()
		g.befores = append(g.befores, L.CheckFunction(1))
		return 0
	}))
	L.SetGlobal("after_each", L.NewFunction(func(L *lua.LState) int {
		g := c.top()
		g.afters = append([]*lua.LFunction{L.CheckFunction(1)}, g.afters...)
		return 0
	}))
	L.SetGlobal("assert", newAssert(L, chunk))
	L.SetGlobal("fastlua", h.newModule(L, chunk))
}

// newAssert is the assert table.
func newAssert(L *lua.LState, chunk string) *lua.LTable {
	a := L.NewTable()
	with := func(L *lua.LState, n int, msg string) string {
		if m, ok := L.Get(n).(lua.LString); ok {
			return string(m) + ": " + msg
		}
		return msg
	}
	set := func(fn lua.LGFunction, names ...string) {
		f := L.NewFunction(fn)
		for _, n := range names {
			a.RawSetString(n, f)
		}
	}
	set(func(L *lua.LState) int {
		exp, act := L.Get(1), L.Get(2)
		if !L.RawEqual(exp, act) && !(exp.Type() == lua.LTNumber && act.Type() == lua.LTNumber && exp == act) {
			failAssert(L, chunk, with(L, 3, fmt.Sprintf("expected %s, got %s", show(exp), show(act))))
		}
		return 0
	}, "equals", "equal", "are_equal")
	set(func(L *lua.LState) int {
		exp, act := L.Get(1), L.Get(2)
		if d, ok := same(exp, act, ""); !ok {
			msg := fmt.Sprintf("expected %s, got %s", show(exp), show(act))
			if d.path != "" {
				msg = fmt.Sprintf("at %s: expected %s, got %s", d.path, show(d.exp), show(d.act))
			}
			failAssert(L, chunk, with(L, 3, msg))
		}
		return 0
	}, "same", "are_same")
	set(func(L *lua.LState) int {
		if v := L.Get(1); v != lua.LTrue {
			failAssert(L, chunk, with(L, 2, "expected true, got "+show(v)))
		}
		return 0
	}, "is_true")
	set(func(L *lua.LState) int {
		if v := L.Get(1); v != lua.LFalse {
			failAssert(L, chunk, with(L, 2, "expected false, got "+show(v)))
		}
		return 0
	}, "is_false")
	set(func(L *lua.LState) int {
		if v := L.Get(1); v != lua.LNil {
			failAssert(L, chunk, with(L, 2, "expected nil, got "+show(v)))
		}
		return 0
	}, "is_nil")
	set(func(L *lua.LState) int {
		if L.Get(1) == lua.LNil {
			failAssert(L, chunk, with(L, 2, "expected a value, got nil"))
		}
		return 0
	}, "is_not_nil")
	set(func(L *lua.LState) int {
		pat := L.CheckString(1)
		s, ok := L.Get(2).(lua.LString)
		if ok {
			L.Push(L.GetField(L.GetGlobal("string"), "find"))
			L.Push(s)
			L.Push(lua.LString(pat))
			L.Call(2, 1)
			found := L.Get(-1) != lua.LNil
			L.Pop(1)
			if found {
				return 0
			}
		}
		failAssert(L, chunk, with(L, 3, fmt.Sprintf("expected a string matching %q, got %s", pat, show(L.Get(2)))))
		return 0
	}, "matches")
	set(func(L *lua.LState) int {
		fn := L.CheckFunction(1)
		want, hasWant := L.Get(2).(lua.LString)
		err := L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true})
		if err == nil {
			failAssert(L, chunk, with(L, 3, "expected an error, got none"))
			return 0
		}
		if !hasWant {
			return 0
		}
		var got string
		var ae *lua.ApiError
		if errors.As(err, &ae) {
			switch obj := ae.Object.(type) {
			case lua.LString:
				got = string(obj)
				if _, rest, ok := cutPosition(got); ok {
					got = rest
				}
			case *lua.LTable:
				got = lua.LVAsString(obj.RawGetString("message"))
			default:
				got = ae.Object.String()
			}
		} else {
			got = err.Error()
		}
		if got != string(want) {
			failAssert(L, chunk, with(L, 3, fmt.Sprintf("expected the error %q, got %q", string(want), got)))
		}
		return 0
	}, "has_error", "error")
	return a
}

// syntaxError takes gopher-lua's syntax error apart: "x_test.lua line:3(column:3) near 'end':   syntax error".
var syntaxError = regexp.MustCompile(`line:(\d+)\(column:\d+\) near (.*?):\s+(.*)$`)

var positionPrefix = regexp.MustCompile(`^[^:\n]*:\d+: `)

// cutPosition takes the "file:12: " prefix off an error message.
func cutPosition(msg string) (string, string, bool) {
	loc := positionPrefix.FindStringIndex(msg)
	if loc == nil {
		return "", msg, false
	}
	return msg[:loc[1]], msg[loc[1]:], true
}
