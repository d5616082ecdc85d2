package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// The lazy body (jsonlazy.go) against the eager one: for a document and an edit script, the
// script reads the same things (the trace it builds, pairs' order included), both agree on
// whether the body changed, and when it did their outputs decode to the same value (their
// normal forms are equal).

// lazyTestState is a state with the functions the sandbox gives scripts that look at raw
// tables (pairs honouring __pairs, next, rawget, rawset, getmetatable, setmetatable) and the json
// module, as the fastlua package opens them.
func lazyTestState(t testing.TB) *lua.LState {
	L := lua.NewState()
	t.Cleanup(L.Close)
	G := L.G.Global
	baseNext := G.RawGetString("next").(*lua.LFunction)
	G.RawSetString("next", NextFunction(L, baseNext))
	G.RawSetString("pairs", L.NewFunction(func(L *lua.LState) int {
		if tb, ok := L.Get(1).(*lua.LTable); ok {
			if mt, ok := tb.Metatable.(*lua.LTable); ok {
				if fn := mt.RawGetString("__pairs"); fn != lua.LNil {
					L.SetTop(1)
					L.Insert(fn, 1)
					L.Call(1, 3)
					return 3
				}
			}
		}
		tb := L.CheckTable(1)
		L.Push(baseNext)
		L.Push(tb)
		L.Push(lua.LNil)
		return 3
	}))
	for _, name := range []string{"rawget", "rawset", "getmetatable", "setmetatable"} {
		orig := G.RawGetString(name).(*lua.LFunction)
		G.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			MaterializeJSON(L, L.Get(1))
			n := L.GetTop()
			L.Insert(orig, 1)
			L.Call(n, lua.MultRet)
			return L.GetTop()
		}))
	}
	G.RawSetString("json", NewJSONModule(L, 0, nil))
	if err := L.DoString(`function show(v) if type(v) == "table" then return "table" end return tostring(v) end`); err != nil {
		t.Fatal(err)
	}
	return L
}

type lazyResult struct {
	isString bool   // the text is not JSON: content is the string
	err      bool   // the script (or the encoder) failed
	trace    string // what the script read
	changed  bool
	out      []byte // the body written, when changed
}

// runBody decodes text eagerly or lazily as event.response.content, runs script with it as the
// global c, and writes the body back as response.flush does.
func runBody(t testing.TB, L *lua.LState, lazy bool, text []byte, script string) lazyResult {
	var in Interner
	var res lazyResult
	var v lua.LValue
	var b body
	var lz *lazyState
	if lazy {
		lz = newLazyState(L, &in)
		var err error
		if v, err = lz.load(text, "content"); err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("lazy load: %v", err)
			}
			return lazyResult{isString: true}
		}
	} else {
		if b.load(L, &in, text, "content"); b.value == lua.LNil {
			return lazyResult{isString: true}
		}
		v = b.value
	}
	L.SetGlobal("c", v)
	L.SetGlobal("trace", lua.LString(""))
	if err := L.DoString(script); err != nil {
		res.err = true
		return res
	}
	res.trace = L.GetGlobal("trace").String()
	enc := Encoder{verbatim: lazy}
	if lazy {
		res.changed = !lz.sameLazy(v, text)
	} else {
		res.changed = b.changed(text)
	}
	if res.changed {
		out, err := enc.Encode(v)
		if err != nil {
			res.err = true
			return res
		}
		res.out = bytes.Clone(out)
	}
	return res
}

// normalForm is what text decodes to, encoded again.
func normalForm(t testing.TB, L *lua.LState, text []byte) string {
	v, err := DecodeJSON(L, text)
	if err != nil {
		t.Fatalf("the output %q does not decode: %v", text, err)
	}
	var enc Encoder
	out, err := enc.Encode(v)
	if err != nil {
		t.Fatalf("the output %q does not encode again: %v", text, err)
	}
	return string(out)
}

// checkLazy runs text and script both ways and compares them.
func checkLazy(t testing.TB, text []byte, script string) {
	t.Helper()
	L := lazyTestState(t)
	eager := runBody(t, L, false, text, script)
	lazy := runBody(t, L, true, text, script)
	if eager.isString != lazy.isString {
		t.Fatalf("%q: string eager %v, lazy %v", text, eager.isString, lazy.isString)
	}
	if eager.err || lazy.err {
		if !eager.err || lazy.err && eager.changed != lazy.changed {
			// The eager encoder refuses numbers out of range that the lazy one copies.
			t.Fatalf("%q\n%s\nerror: eager %v, lazy %v", text, script, eager.err, lazy.err)
		}
		return
	}
	if eager.trace != lazy.trace {
		t.Fatalf("%q\n%s\ntrace:\neager %q\nlazy  %q", text, script, eager.trace, lazy.trace)
	}
	if eager.changed != lazy.changed {
		t.Fatalf("%q\n%s\nchanged: eager %v, lazy %v (lazy output %q)", text, script, eager.changed, lazy.changed, lazy.out)
	}
	if eager.changed {
		if e, l := normalForm(t, L, eager.out), normalForm(t, L, lazy.out); e != l {
			t.Fatalf("%q\n%s\noutput:\neager %s\nlazy  %s (%s)", text, script, e, l, lazy.out)
		}
	}
}

// A random document, written with the liberties JSON allows (white space, escapes, exponents,
// a key twice now and then).
func randomDoc(r *rand.Rand, depth int, sb *strings.Builder) {
	ws := func() {
		if r.IntN(6) == 0 {
			sb.WriteString([]string{" ", "\n", "\t ", "  "}[r.IntN(4)])
		}
	}
	k := r.IntN(10)
	if depth > 4 {
		k = 4 + r.IntN(6)
	}
	switch k {
	case 0, 1, 2:
		sb.WriteByte('{')
		n := r.IntN(6)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			ws()
			sb.WriteString(randomKeyText(r))
			ws()
			sb.WriteByte(':')
			ws()
			randomDoc(r, depth+1, sb)
			ws()
		}
		sb.WriteByte('}')
	case 3:
		sb.WriteByte('[')
		n := r.IntN(5)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			ws()
			randomDoc(r, depth+1, sb)
			ws()
		}
		sb.WriteByte(']')
	case 4, 5:
		sb.WriteString([]string{`0`, `1`, `-2`, `3.5`, `1e3`, `12345678901234567890`, `-0`, `2E-2`, `7`}[r.IntN(9)])
	case 6, 7:
		sb.WriteString([]string{`"x"`, `""`, `"a\"b"`, `"\u00e9t\u00e9"`, `"é"`, "\"\xff\"", `"\ud83d\ude00"`, `"line\nnext"`, `"y"`}[r.IntN(9)])
	case 8:
		sb.WriteString([]string{`true`, `false`, `null`}[r.IntN(3)])
	default:
		sb.WriteString([]string{`{}`, `[]`}[r.IntN(2)])
	}
}

var lazyKeys = []string{"a", "b", "id", "name", "tags", "x"}

func randomKeyText(r *rand.Rand) string {
	k := lazyKeys[r.IntN(len(lazyKeys))]
	switch r.IntN(8) {
	case 0:
		return `"\u00` + fmt.Sprintf("%02x", k[0]) + k[1:] + `"` // the same key, escaped
	case 1:
		return `"é` + k + `"`
	}
	return `"` + k + `"`
}

// luaString writes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\%d", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// paths lists the Lua expressions of the values in v (an eagerly decoded document), c first.
func lazyPaths(v lua.LValue, expr string, depth int, out []string) []string {
	out = append(out, expr)
	tb, ok := v.(*lua.LTable)
	if !ok || depth > 5 {
		return out
	}
	var keys []string
	n := tableLen(tb)
	if n > 0 && isArray(tb, n) {
		for i := 1; i <= n; i++ {
			out = lazyPaths(tb.RawGetInt(i), fmt.Sprintf("%s[%d]", expr, i), depth+1, out)
		}
		return out
	}
	tb.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			keys = append(keys, string(s))
		}
	})
	slices.Sort(keys)
	for _, k := range keys {
		out = lazyPaths(tb.RawGetString(k), expr+"["+luaString(k)+"]", depth+1, out)
	}
	return out
}

// randomScript writes an edit script over the paths of a document: reads that go into trace
// (pairs' order included), writes of every kind, moves, and the raw functions.
func randomScript(r *rand.Rand, paths []string) string {
	var sb strings.Builder
	pick := func() string { return paths[r.IntN(len(paths))] }
	// Each statement in a pcall-free block that checks the path still leads to a table.
	values := []string{`1`, `"new"`, `nil`, `{}`, `{1, 2}`, `{k = "v"}`, `json.null`, `true`, `3.25`}
	n := 1 + r.IntN(6)
	for range n {
		p := pick()
		key := luaString(lazyKeys[r.IntN(len(lazyKeys))])
		if r.IntN(5) == 0 {
			key = luaString("é" + lazyKeys[r.IntN(len(lazyKeys))])
		}
		fmt.Fprintf(&sb, "do local t = %s\nif type(t) == 'table' then\n", p)
		switch r.IntN(14) {
		case 0:
			fmt.Fprintf(&sb, "trace = trace .. show(t[%s]) .. ';'\n", key)
		case 1:
			sb.WriteString("for k, v in pairs(t) do trace = trace .. show(k) .. '=' .. type(v) .. ';' end\n")
		case 2, 3:
			fmt.Fprintf(&sb, "t[%s] = %s\n", key, values[r.IntN(len(values))])
		case 4:
			fmt.Fprintf(&sb, "t[%s] = nil\n", key)
		case 5:
			fmt.Fprintf(&sb, "t[%s] = %s\n", key, pick())
		case 6:
			fmt.Fprintf(&sb, "t[%s] = t[%s]\n", key, key)
		case 7:
			sb.WriteString("table.insert(t, 'ins')\n")
		case 8:
			fmt.Fprintf(&sb, "rawset(t, %s, 'raw')\n", key)
		case 9:
			fmt.Fprintf(&sb, "trace = trace .. show(rawget(t, %s)) .. show(getmetatable(t)) .. #t .. ';'\n", key)
		case 10:
			sb.WriteString("local k = next(t) trace = trace .. show(k) .. ';'\n")
		case 11:
			sb.WriteString("trace = trace .. json.encode(t) .. ';'\n")
		case 12:
			sb.WriteString("t[1] = 'one'\n")
		case 13:
			fmt.Fprintf(&sb, "local v = t[%s] if type(v) == 'table' then v.z = 1 trace = trace .. type(t[%s]) end\n", key, key)
		}
		sb.WriteString("end end\n")
	}
	return sb.String()
}

func TestLazyJSONMatchesEager(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(19, 2026))
	L := lazyTestState(t)
	for range n {
		var sb strings.Builder
		randomDoc(r, 0, &sb)
		text := []byte(sb.String())
		v, err := DecodeJSON(L, text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		checkLazy(t, text, randomScript(r, lazyPaths(v, "c", 0, nil)))
	}
}

// Cases the random ones found or might miss.
func TestLazyJSONCases(t *testing.T) {
	for _, c := range []struct{ text, script string }{
		{`{"a":1,"a":2}`, `c.a = 2`},
		{`{"a":1,"a":2}`, `c.a = 1`},
		{`{"a":1,"a":2}`, `for k, v in pairs(c) do trace = trace .. k .. v end`},
		{`{"a":{"b":1},"a":{"b":2}}`, `c.a.b = 3`},
		{`{"a":{"b":1}}`, `local x = c.a c.a = nil c.b = x`},
		{`{"a":{"b":1},"c":{"b":1}}`, `c.a, c.c = c.c, c.a`},
		{`{"a":{"b":1},"c":{"b":2}}`, `c.a, c.c = c.c, c.a`},
		{`{"a":[{"b":1},{"b":2}]}`, `c.a[1], c.a[2] = c.a[2], c.a[1]`},
		{`{"a":[{"b":1},{"b":1}]}`, `c.a[1], c.a[2] = c.a[2], c.a[1]`},
		{`{"a":1}`, `c.a = nil c.a = 1`},
		{`{"a":1,"b":2}`, `c.a = nil for k in pairs(c) do trace = trace .. k end c.a = 1 for k in pairs(c) do trace = trace .. k end`},
		{`{"a":1}`, `table.insert(c, 5)`},
		{`{"a":1}`, `c[1] = 5`},
		{`{"\u0061":1}`, `c.a = 2`},
		{`{"\u0061":1}`, `trace = show(c.a)`},
		{`{"a":1e400}`, `c.b = 1`},
		{`{"a":"\ud800"}`, `c.b = 1`},
		{`[{"a":1},{}]`, `c[1].a = nil c[2].x = 1`},
		{`{"x":{"y":{"z":1}}}`, `c.x.y.z = 1 trace = json.encode(c)`},
		{`{"x":{"y":{"z":1}}}`, `setmetatable(c.x, {__index = function() return 7 end}) trace = show(c.x.q)`},
		{`{"x":1}`, `c.self = c`},
		{`{"a": {"b" : 1} , "c":2}`, `c.c = 3`},
	} {
		checkLazy(t, []byte(c.text), c.script)
	}
}

// Text that is not JSON: the lazy path refuses exactly what the decoder refuses, with the same
// error.
func TestLazyJSONValidatesAsTheDecoder(t *testing.T) {
	L := lazyTestState(t)
	for _, text := range []string{`{"a":1,}`, `[1,2`, `{"a" 1}`, `"\x"`, `01`, `1.`, `1e`, `-`, `tru`, "\"\x01\"", `"\u12"`,
		`{"a":1} x`, strings.Repeat("[", 201) + strings.Repeat("]", 201), strings.Repeat("[", 200) + strings.Repeat("]", 200), `"\ud800\u12"`, ``, ` `} {
		_, _, derr := decodeJSON(L, []byte(text), nil)
		verr := validateJSON([]byte(text), nil)
		if fmt.Sprint(derr) != fmt.Sprint(verr) {
			t.Errorf("%q: decoder %v, scanner %v", text, derr, verr)
		}
	}
}

// Any document and any edit script: the lazy path agrees with the eager one.
func FuzzLazyJSON(f *testing.F) {
	f.Add([]byte(`{"resource":[{"id":1,"ssn":"x","tags":["a"]}],"meta":{"count":1}}`), uint64(1))
	f.Add([]byte(`{"a":1,"a":{"b":2}}`), uint64(2))
	f.Add([]byte(`[{"\u0061":1},{}]`), uint64(3))
	// FuzzJSON's corpus: the documents that widened the decoder's coverage.
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzJSON/*")
	for i, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		line, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
		if !ok {
			continue
		}
		if doc, err := strconv.Unquote(strings.TrimSuffix(line, ")")); err == nil {
			f.Add([]byte(doc), uint64(i))
		}
	}
	f.Fuzz(func(t *testing.T, text []byte, seed uint64) {
		if len(text) > 1<<16 {
			return
		}
		L := lazyTestState(t)
		v, _, derr := decodeJSON(L, text, nil)
		if verr := validateJSON(text, nil); fmt.Sprint(derr) != fmt.Sprint(verr) {
			if _, ok := derr.(*SyntaxError); ok || verr != nil {
				t.Fatalf("%q: decoder %v, scanner %v", text, derr, verr)
			}
		}
		if derr != nil {
			return
		}
		r := rand.New(rand.NewPCG(seed, 19))
		checkLazy(t, text, randomScript(r, lazyPaths(v, "c", 0, nil)))
	})
}

// The scanner that validates a body before it is decoded lazily, on 100 records (about 20 KB).
func BenchmarkScanJSON(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"resource":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"first_name":"User%d","last_name":"Example","email":"user%d@example.com","ssn":"078-05-%04d","salary":%d,"active":true,"tags":["a","b"],"address":{"city":"London","zip":"W1"}}`, i, i, i, i, 40000+i)
	}
	sb.WriteString(`]}`)
	text := []byte(sb.String())
	var tape []jsonSpan
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if tape, err = scanJSON(text, nil, tape[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// A lazy object kept past the run that decoded it (Bind and Unbind forget them all) raises a
// clear error when a script reads, writes or walks it, and the encoder refuses it: it never
// reads another body's bytes.
func TestLazyJSONObjectOfAnEarlierRun(t *testing.T) {
	L := lazyTestState(t)
	var in Interner
	s := newLazyState(L, &in)
	v, err := s.load([]byte(`{"a":{"b":1}}`), "event.response.content")
	if err != nil {
		t.Fatal(err)
	}
	L.SetGlobal("c", v)
	if err := L.DoString(`old = c.a`); err != nil {
		t.Fatal(err)
	}
	s.reset()
	if _, err := s.load([]byte(`{"x":[1,2,3],"y":{"z":2}}`), "event.response.content"); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{`return old.b`, `old.b = 2`, `for k in pairs(old) do end`, `return next(old)`, `return rawget(old, "b")`, `return json.encode(old)`} {
		err := L.DoString(script)
		if err == nil || !strings.Contains(err.Error(), "belongs to a body that is no longer there") {
			t.Errorf("%s: %v, want the error of a table of an earlier run", script, err)
		}
	}
	enc := Encoder{verbatim: true}
	if _, err := enc.Encode(L.GetGlobal("old")); err == nil || !errors.Is(err, errLazyGone) {
		t.Errorf("encoding it: %v, want errLazyGone", err)
	}
}

// The copies of replaced texts kept for their lazy objects are bounded: past maxDetached, a
// replaced text's objects raise errLazyDropped, and those kept before still read theirs.
func TestLazyJSONDetachedCopiesAreBounded(t *testing.T) {
	L := lazyTestState(t)
	var in Interner
	s := newLazyState(L, &in)
	s.maxDetached = 30
	body := []byte(`{"a":{"b":1}}`) // 13 bytes, replaced in place as a body is
	load := func(global string) {
		v, err := s.load(body, "event.response.content")
		if err != nil {
			t.Fatal(err)
		}
		L.SetGlobal(global, v)
	}
	load("first")
	s.detach()
	copy(body, `{"a":{"b":2}}`)
	load("second")
	s.detach()
	copy(body, `{"a":{"b":3}}`)
	load("third")
	s.detach() // 13 + 13 + 13 > 30: dropped
	copy(body, `{"x":"yyyyyyyyyy"}`[:13])
	for script, want := range map[string]string{`return first.a.b`: "1", `return second.a.b`: "2"} {
		if err := L.DoString(script); err != nil || L.Get(-1).String() != want {
			t.Errorf("%s: %v %v, want %s", script, L.Get(-1), err, want)
		}
		L.Pop(1)
	}
	if err := L.DoString(`return third.a`); err == nil || !strings.Contains(err.Error(), "64 MiB of earlier bodies") {
		t.Errorf("a dropped text's object: %v, want errLazyDropped", err)
	}
}
