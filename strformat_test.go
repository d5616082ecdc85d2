package fastlua

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// sandboxState returns a state of a fresh Middleware and a function that runs a chunk in its
// sandbox (the globals scripts see), returning the chunk's first result or its error.
func sandboxState(t testing.TB, cfg Config) (*state, func(src string) (lua.LValue, error)) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(t.Context()) })
	st, err := m.pool.get(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.pool.put(st) })
	return st, func(src string) (lua.LValue, error) {
		fn, err := st.L.LoadString(src)
		if err != nil {
			return nil, err
		}
		fn.Env = st.G
		st.L.Push(fn)
		if err := st.L.PCall(0, 1, nil); err != nil {
			return nil, err
		}
		v := st.L.Get(-1)
		st.L.Pop(1)
		return v, nil
	}
}

// Where fastlua's string.format gives other bytes than Lua 5.1 on purpose (see strformat.go):
// the zero byte is kept (Lua 5.1 drops it and what follows, a strlen artefact), and %s and %q
// of a number use the number's text as tostring writes it (internal/luanum: JavaScript's
// form, not %.14g). And one glibc artefact: its %#g drops the zeros when rounding carries into a new digit (999999.5 is
// "1.e+06", not "1.00000e+06").
func deliberateDifference(format, args string) bool {
	if args == "999999.5" && strings.Contains(format, "#") && strings.ContainsAny(format, "gG") {
		return true
	}
	zero := strings.Contains(args, `\0`) || strings.Contains(format, "c") && (args == "0" || args == "256" || args == "2^31" || args == "-2^31" || args == "2^40")
	number := (strings.Contains(format, "s") || strings.Contains(format, "q")) && args != "" && !strings.ContainsAny(args[:1], `"'(`) &&
		args != "(-(0.0))" || format == "%s" && args == "(-(0.0))"
	return zero || number
}

// Every valid case of testdata/format/lua51.tsv (formats of every conversion and flag against
// many numbers, strings, infinities and NaNs) gives Lua 5.1's bytes.
func TestStringFormatLua51(t *testing.T) {
	f, err := os.Open("testdata/format/lua51.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, run := sandboxState(t, Config{})
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n, skipped := 0, 0
	for line := 1; sc.Scan(); line++ {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			t.Fatalf("line %d: %d fields", line, len(fields))
		}
		var v [3]string
		for i, q := range fields {
			if v[i], err = strconv.Unquote(q); err != nil {
				t.Fatalf("line %d: %v", line, err)
			}
		}
		format, args, want := v[0], v[1], v[2]
		if deliberateDifference(format, args) {
			skipped++
			continue
		}
		src := "return string.format(" + strconv.Quote(format)
		if strings.Contains(args, "nz") {
			// Not in the other chunks: gopher-lua's constants would make their 0 this -0.
			src = "local nz = -(0.0) " + src
		}
		if args != "" {
			src += ", " + args
		}
		got, err := run(src + ")")
		if err != nil {
			t.Errorf("line %d: string.format(%q, %s): %v, want %q", line, format, args, err, want)
			continue
		}
		if s, ok := got.(lua.LString); !ok || string(s) != want {
			t.Errorf("line %d: string.format(%q, %s) = %q, want %q", line, format, args, got, want)
		}
		n++
	}
	if n < 3000 || skipped > 400 {
		t.Fatalf("%d cases checked, %d skipped", n, skipped)
	}
}

// The deliberate differences, and errors, exactly.
func TestStringFormatChoicesAndErrors(t *testing.T) {
	_, run := sandboxState(t, Config{MaxStringSize: 1 << 20})
	cases := []struct{ src, want string }{
		{`string.format("%c", 0)`, "\x00"},
		{`string.format("%5c", 0)`, "    \x00"},
		{`string.format("%c%c", 255, 256 + 65)`, "\xffA"},
		{`string.format("%s", "a\0b")`, "a\x00b"},
		{`string.format("%5.2s|", "a\0b")`, "   a\x00|"},
		{`string.format("%q", "a\0b")`, `"a\000b"`},
		{`string.format("%s %s %s", 1e15, 0.1, 2^63)`, "1000000000000000 0.1 9223372036854776000"},
		{`string.format("%s", -(0.0))`, "0"},
		{`string.format("%q", 1/3)`, `"0.3333333333333333"`},
		{`string.format("%s|%s|%s", nil, true, false)`, "nil|true|false"},
		{`string.format("%d", "abc")`, "bad argument #2 to 'format' (number expected, got string)"},
		{`string.format("%d")`, "bad argument #2 to 'format' (number expected, got no value)"},
		{`string.format("%s %s", 1)`, "bad argument #3 to 'format' (string expected, got no value)"},
		{`string.format("%q", {})`, "bad argument #2 to 'format' (string expected, got table)"},
		{`string.format("%x", nil)`, "bad argument #2 to 'format' (number expected, got nil)"},
		{`string.format("%[1]s", "x")`, "invalid option '%[' to 'format'"},
		{`string.format("%v", 1)`, "invalid option '%v' to 'format'"},
		{`string.format("%*d", 5, 1)`, "invalid option '%*' to 'format'"},
		{`string.format("%5%", 1)`, "invalid option '%%' to 'format'"},
		{`string.format("%ld", 1)`, "invalid option '%l' to 'format'"},
		{`string.format("abc%", 1)`, "invalid option '%' to 'format'"},
		{`string.format("%#g|%#G", 999999.5, 999999.5)`, "1.00000e+06|1.00000E+06"},
		{`string.format("%------d", 1)`, "invalid format (repeated flags)"},
		{`string.format("%100d", 1)`, "invalid format (width or precision too long)"},
		{`string.format("%.100f", 1)`, "invalid format (width or precision too long)"},
		{`string.format("%099999999d", 1)`, "invalid format (width or precision too long)"},
		{`string.format(("%[1]s"):rep(1000), ("x"):rep(1000000))`, "invalid option '%[' to 'format'"},
		{`string.format(("%99d"):rep(11000), unpack((function() local t = {} for i = 1, 11000 do t[i] = i end return t end)()))`,
			"string.format: the result would be 1048608 bytes, more than the string limit of 1048576 bytes (Config.MaxStringSize)"},
		{`string.format("%s%s", ("x"):rep(600000), ("y"):rep(600000))`, "string.format: the result would be 1200000 bytes, more than the string limit"},
		{`string.format("%q", ("\0"):rep(300000))`, "string.format: the result would be 1200002 bytes"},
		{`#string.format("%s%s", ("x"):rep(524288), ("y"):rep(524288))`, "1048576"},
		{`#string.format("%q", ("\n"):rep(524287))`, "1048576"},
	}
	for _, c := range cases {
		got, err := run("return " + c.src)
		var s string
		if err != nil {
			s = err.Error()
		} else {
			s = got.String()
		}
		if !strings.Contains(s, c.want) {
			t.Errorf("%s = %q, want %q", c.src, s, c.want)
		}
	}
}

// A differential test against gopher-lua's own string.format, on generated formats and values
// where Go's fmt, which it uses, writes what C's printf does: %d and %i of integers, %e, %E and
// %f of finite numbers, %s of ASCII strings and of numbers, with flags "-+ 0" (not 0 for %s),
// widths and precisions.
func TestStringFormatAgainstGopherLua(t *testing.T) {
	_, run := sandboxState(t, Config{})
	ref := lua.NewState()
	defer ref.Close()
	rnd := rand.New(rand.NewSource(1))
	values := func(conv byte) string {
		switch conv {
		case 'd', 'i':
			return strconv.FormatInt(rnd.Int63n(1<<40)-1<<39, 10)
		case 's':
			if rnd.Intn(3) == 0 {
				return strconv.Itoa(rnd.Intn(100000) - 50000)
			}
			b := make([]byte, rnd.Intn(12))
			for i := range b {
				b[i] = byte(' ' + rnd.Intn(95))
			}
			return strconv.Quote(string(b))
		default:
			return strconv.FormatFloat((rnd.Float64()-0.5)*float64(int64(1)<<rnd.Intn(60)), 'g', -1, 64)
		}
	}
	for i := 0; i < 5000; i++ {
		var f strings.Builder
		var args []string
		for k := rnd.Intn(4); k >= 0; k-- {
			f.WriteString([]string{"", "x", "ab ", "%%", "-"}[rnd.Intn(5)])
			conv := "diefEs"[rnd.Intn(6)]
			f.WriteByte('%')
			for j := rnd.Intn(3); j > 0; j-- {
				flags := "-+ 0"
				if conv == 's' {
					flags = "-+ " // Go pads %05s with zeros, C with spaces
				}
				f.WriteByte(flags[rnd.Intn(len(flags))])
			}
			if rnd.Intn(2) == 0 {
				f.WriteString(strconv.Itoa(rnd.Intn(30)))
			}
			if rnd.Intn(2) == 0 && conv != 'd' && conv != 'i' { // Go ignores '0' with a precision for integers differently
				f.WriteString("." + strconv.Itoa(rnd.Intn(20)))
			}
			f.WriteByte(conv)
			args = append(args, values(conv))
		}
		src := fmt.Sprintf("return string.format(%q, %s)", f.String(), strings.Join(args, ", "))
		if err := ref.DoString(src); err != nil {
			t.Fatalf("gopher-lua: %s: %v", src, err)
		}
		want := ref.Get(-1).String()
		ref.Pop(1)
		got, err := run(src)
		if err != nil {
			t.Errorf("%s: %v, gopher-lua gives %q", src, err, want)
			continue
		}
		if got.String() != want {
			t.Errorf("%s = %q, gopher-lua gives %q", src, got.String(), want)
		}
	}
}

// string.format against gopher-lua's (the old one without its size check) on formats scripts
// use: a short one on the hot path should cost one allocation, the result.
func BenchmarkStringFormat(b *testing.B) {
	st, _ := sandboxState(b, Config{TimeLimit: -1})
	ref := lua.NewState()
	defer ref.Close()
	old := ref.GetField(ref.GetGlobal("string"), "format").(*lua.LFunction)
	fresh := st.G.RawGetString("string")
	newFormat := st.L.GetField(fresh, "format").(*lua.LFunction)
	for _, c := range []struct {
		name string
		args []lua.LValue
	}{
		{"int", []lua.LValue{lua.LString("%d"), lua.LNumber(12345)}},
		{"strings", []lua.LValue{lua.LString("%s:%s"), lua.LString("user"), lua.LString("42")}},
		{"float", []lua.LValue{lua.LString("%.2f"), lua.LNumber(3.14159)}},
		{"mixed", []lua.LValue{lua.LString("id=%05d name=%-8s score=%6.2f hex=%x"), lua.LNumber(42), lua.LString("ada"), lua.LNumber(97.5), lua.LNumber(255)}},
	} {
		for _, impl := range []struct {
			name string
			L    *lua.LState
			fn   *lua.LFunction
		}{{"old", ref, old}, {"new", st.L, newFormat}} {
			b.Run(c.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				L := impl.L
				for i := 0; i < b.N; i++ {
					L.Push(impl.fn)
					for _, a := range c.args {
						L.Push(a)
					}
					L.Call(len(c.args), 1)
					L.Pop(1)
				}
			})
		}
	}
}
