package fastlua

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// concatCases are the scripts of testdata/concat/*.lua, each after a "----" line: scripts
// whose results must not change when `..` is bounded (gopher-lua's own OP_CONCAT is the
// reference).
func concatCases(t *testing.T) []string {
	files, _ := filepath.Glob("testdata/concat/*.lua")
	var cases []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(string(src), "\n----\n")
		cases = append(cases, parts[1:]...) // parts[0] is the file's header
	}
	if len(cases) < 60 {
		t.Fatalf("only %d cases in testdata/concat", len(cases))
	}
	return cases
}

// The bounded `..` gives what gopher-lua's OP_CONCAT gives: values, numbers' text, metamethod
// order, error messages with their lines, evaluation order.
func TestConcatAsGopherLua(t *testing.T) {
	st, _ := sandboxState(t, Config{})
	for _, src := range concatCases(t) {
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
