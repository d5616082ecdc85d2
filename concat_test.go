package fastlua

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// runAtLevel runs proto as the middleware runs a script: specialized for a level of st, with
// the level's environment (replaced when the run wrote a global). It returns the first result.
func runAtLevel(st *state, proto *lua.FunctionProto) (lua.LValue, error) {
	L := st.L
	lv := st.enter()
	defer st.leave()
	fn := L.NewFunctionFromProto(specialize(proto, lv.objs))
	fn.Env = lv.env
	top := L.GetTop()
	defer L.SetTop(top)
	L.Push(fn)
	err := L.PCall(0, 1, nil)
	if lv.dirty {
		lv.newEnv()
	}
	if err != nil {
		return nil, err
	}
	return L.Get(-1), nil
}

// compileUnbounded compiles src as gopher-lua alone does: `..` stays OP_CONCAT.
func compileUnbounded(t testing.TB, src string) *lua.FunctionProto {
	t.Helper()
	chunk, err := parse.Parse(strings.NewReader(src), chunkName)
	if err != nil {
		t.Fatal(err)
	}
	p, err := lua.Compile(chunk, chunkName)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// outcome describes a run's result or error for comparison: the type and text of the value,
// or the error value's text (without gopher-lua's traceback, which names Go frames).
func outcome(v lua.LValue, err error) string {
	if err != nil {
		var ae *lua.ApiError
		if errors.As(err, &ae) {
			return "error: " + ae.Object.String()
		}
		return "error: " + err.Error()
	}
	if _, isTable := v.(*lua.LTable); isTable {
		return "table"
	}
	return v.Type().String() + ": " + v.String()
}

// concatCases are scripts whose results must not change when `..` is bounded: gopher-lua's own
// OP_CONCAT is the reference.
var concatCases = []string{
	// Strings and numbers, numbers written as gopher-lua writes them.
	`return "a" .. "b"`,
	`return "" .. ""`,
	`return 1 .. 2`,
	`local x = "n=" return x .. 1 .. " " .. 2.5 .. " " .. -0 .. " " .. 1e300 .. " " .. 2^63 .. " " .. -2^63 .. " " .. 2^53 + 1`,
	`return 0/0 .. " " .. 1/0 .. " " .. -1/0 .. " " .. 1e15 .. " " .. 1e16 .. " " .. 123456789012 .. " " .. 0.1 .. " " .. 1/3 .. " " .. -1e-300 .. " " .. 5e-324`,
	`return 1e21 .. "|" .. 1e-5 .. "|" .. 123456.789 .. "|" .. 0x10 .. "|" .. -0.0`,
	`local s = "" for i = 1, 20 do s = s .. i .. "," end return s`,
	`return ("a" .. "b") .. ("c" .. "d")`,
	`return "a" .. ("b" .. ("c" .. "d"))`,
	`return ((("a" .. "b") .. "c") .. "d") .. "e"`,
	`return ("a" .. "b"):upper() .. ("x"):rep(3)`,
	`if "a" .. "b" == "ab" then return "yes" end return "no"`,
	`local p = "x" local function f() return p .. "y" end return f() .. f()`,
	`return "x" .. (true and "c" .. "d")`,
	`local a return "x" .. (a or "c" .. "d") .. "e"`,
	`local a = "c" return "x" .. (a and a .. a)`,
	`return "x" .. #("ab" .. "c") .. (2 + 3)`,
	`return ("%d"):format(5) .. "x" .. tostring(nil)`,
	`local t = {k = "v"} return t.k .. t["k"] .. (t.k .. "w")`,
	// One value from each operand, one from the chain.
	`local function f() return "x", "y" end return "a" .. f()`,
	`local function f() return "x", "y" end return select("#", "a" .. f())`,
	`local function g(...) return "a" .. ... end return g("b", "c")`,
	`local function h() return "a" .. "b" end return select("#", h())`,
	`local t = {"a" .. "b", "c" .. "d"} return #t .. t[1] .. t[2]`,
	`local function f() return end return pcall(function() return "a" .. f() end)`,
	// Assigned to the last parameter (see shadowLastParam), to a table field, to an upvalue.
	`local function f(a) a = a .. "x" return a end return f("q")`,
	`local function f(a, b) b = a .. b return b end return f("q", "r")`,
	`local function f(a, b) local keep = "k" b, a = b .. a, 1 return keep .. b .. a end return f("q", "r")`,
	`local function f(a) local keep = "k" if a then a = keep .. a .. "!" end return keep .. a end return f("z")`,
	`local function f(a) local keep = "k" a = a and a .. keep or "none" return keep .. a end return f("z") .. f(false)`,
	`local function f(a, ...) a = a .. select("#", ...) .. ... return a end return f("w", 1, 2)`,
	`local function f(a) local function g() a = a .. "u" end g() g() return a end return f("v")`,
	`local function f(a) local a = 1 a = a .. "x" return a end return f("q")`,
	`local t = {n = "n"} function t:m() self = self.n .. "x" return self end return t:m()`,
	`local t = {n = "n"} function t:m(x) local keep = "k" x = self.n .. x return keep .. x end return t:m("y")`,
	`local t = {} t[1 .. ""] = "a" .. "b" t.x = t["1"] .. "c" return t.x`,
	`local s = "" local function add(x) s = s .. x end add("a") add(1) return s`,
	// Errors: the same text and line.
	`return "a" .. nil`,
	`return {} .. "a"`,
	`return "a" .. {}`,
	`return nil .. nil`,
	`return true .. "x"`,
	`return "x" .. print`,
	`return 1 .. {}`,
	"local a = 'x'\nreturn a ..\n 'b' ..\n nil",
	"local t = {}\nlocal s = 'a'\n  .. 'b'\n  .. t",
	"local x\n\n\nlocal y = 'p' .. (x\n .. 'q')",
	`return "a" .. (1 + {})`,
	`local ok, e = pcall(function() return "a" .. nil end) return tostring(ok) .. " " .. e`,
	// __concat: right to left, pairwise, the left operand's metamethod first.
	`local log = {}
local mt = {__concat = function(a, b)
  local function n(v) return type(v) == "table" and v.name or tostring(v) end
  log[#log + 1] = n(a) .. "+" .. n(b)
  return "<" .. n(a) .. n(b) .. ">"
end}
local t = setmetatable({name = "T"}, mt)
local u = setmetatable({name = "U"}, mt)
local r = "a" .. "b" .. t .. "c" .. 1 .. u .. 2 .. "d"
return r .. " " .. table.concat(log, ",")`,
	`local t = setmetatable({}, {__concat = function(a, b) return 5 end}) return t .. "x"`,
	`local t = setmetatable({}, {__concat = function(a, b) return 5 end}) return type(t .. "x") .. ("a" .. t .. "x")`,
	`local t = setmetatable({}, {__concat = function(a, b) return 5 end}) return type("x" .. t)`,
	`local n = 0 local t t = setmetatable({}, {__concat = function(a, b) n = n + 1 return t end}) local r = "a" .. t .. "b" .. t return tostring(r == t) .. n`,
	`local l = setmetatable({}, {}) local r = setmetatable({}, {__concat = function(a, b) return "r" end}) return l .. r`,
	`local l = setmetatable({}, {__concat = function(a, b) return "l" end}) local r = setmetatable({}, {__concat = function(a, b) return "r" end}) return l .. r .. l`,
	`local t = setmetatable({}, {__concat = setmetatable({}, {__call = function() return "called" end})}) return t .. "x"`,
	`local t = setmetatable({}, {__concat = function() error("boom") end}) return "a" .. t`,
	"local t = setmetatable({}, {__concat = function() error('boom', 2) end})\n\nreturn 'a' .. t",
	`local t = setmetatable({}, {__concat = function(a, b) return b .. a end}) return t .. nil`,
	`local t = setmetatable({}, {__concat = string.rep}) return pcall(function() return "ab" .. t end)`,
	`local t = setmetatable({}, {__concat = function(a, b) return a .. "!" end}) return "ab" .. 3 .. t`,
	// Evaluation order: every operand, left to right, before any joining.
	`local log = {} local function f(x) log[#log + 1] = x return x end
local s = f("a") .. f("b") .. (f("c") .. f("d")) .. f("e")
return table.concat(log) .. " " .. s`,
	`local log = {} local function f(x) log[#log + 1] = x return x end
local ok = pcall(function() return f("a") .. f(nil) .. f("c") end)
return tostring(ok) .. table.concat(log)`,
	`local log = {} local function f(x) log[#log + 1] = type(x) return x end
local t = setmetatable({}, {__concat = function(a, b) log[#log + 1] = "mm" return "m" end})
local s = f("a") .. f(t) .. f("c")
return table.concat(log, ",") .. " " .. s`,
	// Coroutines: operands from a yield, a yield inside __concat (refused across the boundary).
	`local co = coroutine.wrap(function(a) local b = coroutine.yield(a .. "1") return b .. "2" end) return co("x") .. co("y")`,
	`local co = coroutine.wrap(function() return "a" .. coroutine.yield("y") .. "c" end) return co() .. co("b")`,
	`local t = setmetatable({}, {__concat = function() return coroutine.yield("z") end})
local co = coroutine.create(function() return "a" .. t end)
local ok, v = coroutine.resume(co) return tostring(ok) .. " " .. tostring(v)`,
}

// The bounded `..` gives what gopher-lua's OP_CONCAT gives: values, numbers' text, metamethod
// order, error messages with their lines, evaluation order.
func TestConcatAsGopherLua(t *testing.T) {
	st, _ := sandboxState(t, Config{})
	for _, src := range concatCases {
		bounded, err := compileSource("t", src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := countOp(bounded, lua.OP_CONCAT); got != 0 {
			t.Errorf("%s: %d OP_CONCAT left after the rewrite", src, got)
		}
		want := outcome(runAtLevel(st, compileUnbounded(t, src)))
		got := outcome(runAtLevel(st, bounded))
		if got != want {
			t.Errorf("%s\n got  %s\n want %s", src, got, want)
		}
	}
}

// gopher-lua compiles a call assigned to a function's last parameter over the parameter and the
// locals above it (a Go panic, for `a = (tostring(a))`); bounded `..` would make every
// `a = a .. x` such a call, so such a parameter is given a local of its own (shadowLastParam).
func TestConcatLastParameter(t *testing.T) {
	st, _ := sandboxState(t, Config{})
	for src, want := range map[string]string{
		`local function f(a) local keep = "keep" a = (tostring(a)) return keep .. a end return f(1)`:            "keep1",
		`local function f(a, b) local keep = "keep" b = (tostring(b)) return keep .. a .. b end return f(1, 2)`: "keep12",
		`local t = {} function t:m() self = (tostring(1)) return self end return t:m()`:                         "1",
	} {
		p, err := compileSource("t", src)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcome(runAtLevel(st, p)); got != "string: "+want {
			t.Errorf("%s: %s, want %s", src, got, want)
		}
	}
}

// countOp counts the instructions op in p and the functions it defines.
func countOp(p *lua.FunctionProto, op int) int {
	n := 0
	for _, inst := range p.Code {
		if opcode(inst) == op {
			n++
		}
	}
	for _, c := range p.FunctionPrototypes {
		n += countOp(c, op)
	}
	return n
}

// A concatenation that would pass Config.MaxStringSize fails before it builds the string, with
// the string limit's error, counted as KindLimit; one at the limit passes.
func TestConcatBounded(t *testing.T) {
	const limit = 4096
	m, err := New(Config{MaxStringSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(t.Context()) })
	const over = " bytes, more than the string limit of 4096 bytes (Config.MaxStringSize)"
	cases := []struct {
		src  string
		want string // "=" and the result, or the error's message from "line N: "
	}{
		{`local s = ("x"):rep(2048) return #(s .. s)`, "=4096"},
		{`local s = ("x"):rep(2048) return #(s .. s .. "y")`, "line 1: concatenation (..): the result would be 4097" + over},
		// Numbers count as the text they become: 1e300 is six bytes, -1e300 seven.
		{"local s = ('x'):rep(4000)\nlocal n = 1e300\nreturn #(s .. n .. n .. n .. n .. n)", "=4030"},
		{"local s = ('x'):rep(4090)\nlocal n = 1e300\n\nreturn #(s .. n)", "=4096"},
		{"local s = ('x'):rep(4090)\nlocal n = -1e300\n\nreturn #(s .. n)", "line 4: concatenation (..): the result would be 4097" + over},
		// Doubling: stopped at the step that would pass the limit.
		{"local s = 'x'\nwhile true do\n  s = s .. s\nend", "line 3: concatenation (..): the result would be 8192" + over},
		// The part joined before a metamethod, and the part after.
		{`local t = setmetatable({}, {__concat = function(a, b) return "" end}) local s = ("x"):rep(4000) return t .. s .. s`,
			"line 1: concatenation (..): the result would be 8000" + over},
		{`local t = setmetatable({}, {__concat = function(a, b) return ("y"):rep(100) end}) local s = ("x"):rep(4000) return s .. t .. "z"`,
			"line 1: concatenation (..): the result would be 4100" + over},
		// Caught by pcall like any builtin's limit error; the state is still closed (KindLimit).
		{`local s = ("x"):rep(4096) local ok, e = pcall(function() return s .. "y" end) error(e, 0)`,
			"concatenation (..): the result would be 4097" + over},
	}
	for i, c := range cases {
		s, err := m.prepare(Script{Name: fmt.Sprintf("c%d.get.pre_process", i), Source: c.src})
		if err != nil {
			t.Fatal(err)
		}
		st, err := m.pool.get(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		v, err := st.run(s, st.enter())
		st.leave()
		m.pool.put(st)
		if want, ok := strings.CutPrefix(c.want, "="); ok {
			if err != nil || v.String() != want {
				t.Errorf("%s: %v %v, want %s", c.src, v, err, want)
			}
			continue
		}
		var se *ScriptError
		if !errors.As(err, &se) || se.Kind != KindLimit || !strings.Contains(se.Error(), c.want) {
			t.Errorf("%s:\n got  %v\n want %s (KindLimit)", c.src, err, c.want)
		}
	}
}

// BenchmarkConcat runs 100 concatenations of each shape per op, in a loop, as a level runs
// them (specialized, with the level's environment).
func BenchmarkConcat(b *testing.B) {
	for _, c := range []struct{ name, expr string }{
		{"two", `"Bearer " .. token`},
		{"five", `"a=" .. token .. "&b=" .. token .. ";"`},
		{"number", `"n=" .. i`},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, _ := sandboxState(b, Config{})
			proto, err := compileSource("bench", `local token = "0123456789abcdef" local s
for i = 1, 100 do s = `+c.expr+` end
return s`)
			if err != nil {
				b.Fatal(err)
			}
			lv := st.enter()
			defer st.leave()
			fn := st.L.NewFunctionFromProto(specialize(proto, lv.objs))
			fn.Env = lv.env
			b.ReportAllocs()
			for b.Loop() {
				st.L.Push(fn)
				if err := st.L.PCall(0, 0, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The script of issue 13's review, at the default cap: from a string of 4 MiB, three lines of
// ten operands would build 40 MiB, 400 MiB and 4 GiB, each in one instruction. The first fails
// before it allocates. (TestEscapesSurviveAMemoryCap runs this test again under a memory cap.)
func TestConcatFromTheCap(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(t.Context()) })
	s, err := m.prepare(Script{Name: "issue.get.pre_process", Source: `local s = ("x"):rep(4 * 1024 * 1024)
local t = s .. s .. s .. s .. s .. s .. s .. s .. s .. s
local u = t .. t .. t .. t .. t .. t .. t .. t .. t .. t
local v = u .. u .. u .. u .. u .. u .. u .. u .. u .. u`})
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.pool.get(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = st.run(s, st.enter())
	runtime.ReadMemStats(&after)
	st.leave()
	m.pool.put(st)
	const want = "line 2: concatenation (..): the result would be 41943040 bytes, more than the string limit of 4194304 bytes (Config.MaxStringSize)"
	var se *ScriptError
	if !errors.As(err, &se) || se.Kind != KindLimit || !strings.Contains(se.Error(), want) {
		t.Fatalf("%v, want %s (KindLimit)", err, want)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Fatalf("refused, but the run allocated %d MiB: the string was built before it was bounded", n>>20)
	}
}

// Each level's code loads the state's concat function where the chain calls the global
// "(concat)", in closures too; the shared proto keeps the global.
func TestConcatSpecialized(t *testing.T) {
	fn := lua.LString("the concat function") // stands for it, as in TestSpecializeFolds
	objs := levelObjects{values: map[string]lua.LValue{concatName: fn}}
	p, err := compileSource("t", `local x = ... local s = "a" .. x local f = function() return x .. "b" .. x end return s .. f()`)
	if err != nil {
		t.Fatal(err)
	}
	globals := func(p *lua.FunctionProto) (n int) {
		for _, inst := range p.Code {
			if opcode(inst) == lua.OP_GETGLOBAL && p.Constants[argBx(inst)] == lua.LString(concatName) {
				n++
			}
		}
		return n
	}
	loads := func(p *lua.FunctionProto) (n int) {
		for _, inst := range p.Code {
			if opcode(inst) == lua.OP_LOADK && p.Constants[argBx(inst)] == fn {
				n++
			}
		}
		return n
	}
	sp := specialize(p, objs)
	if globals(p) != 2 || globals(p.FunctionPrototypes[0]) != 1 {
		t.Fatalf("the compiled chains call the global %d and %d times, want 2 and 1", globals(p), globals(p.FunctionPrototypes[0]))
	}
	if globals(sp) != 0 || loads(sp) != 2 || globals(sp.FunctionPrototypes[0]) != 0 || loads(sp.FunctionPrototypes[0]) != 1 {
		t.Fatal("the specialized code still reads the global")
	}
	if len(sp.Code) != len(p.Code) {
		t.Fatal("the instruction count changed")
	}
	// Without the function (FuzzCompile's objects), the code is left as it is.
	if sp := specialize(p, levelObjects{values: map[string]lua.LValue{}}); sp != p {
		t.Fatal("specialized without a concat function")
	}
}

// A chain is one call: a short script with concatenations runs on the plain loop while it
// stays within the call budget; a proto with OP_CONCAT never does.
func TestConcatStraightLine(t *testing.T) {
	straight := func(src string) bool {
		p, err := compileSource("t", src)
		if err != nil {
			t.Fatal(err)
		}
		return straightLine(p)
	}
	if !straight(`local token = event.request.headers["x-token"]
event.request.headers["authorization"] = "Bearer " .. token .. "!" .. 1`) {
		t.Error("a script with one chain is not straight-line")
	}
	if straight(strings.Repeat(`local a = "x" .. "y" `, 9)) {
		t.Error("nine chains are within the budget of 8 calls")
	}
	if straightLine(compileUnbounded(t, `local a = "x" .. "y"`)) {
		t.Error("an unbounded OP_CONCAT is straight-line")
	}
}
