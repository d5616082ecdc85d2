package modules

import (
	"crypto/rand"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// What every module shares: Options and Open, and the argument checks. A function reads its
// arguments through an args value (the state and the function's full name, for the errors), and
// checks every size it is going to allocate against Options.MaxString before it allocates.

// DefaultMaxString is MaxString when Options leaves it 0: Config.MaxStringSize's default.
const DefaultMaxString = 4 << 20

// Options is what the sandbox controls. The zero value works.
type Options struct {
	// MaxString bounds every string a function returns or builds, in bytes; the error of a
	// function that would pass it names Config.MaxStringSize. Default DefaultMaxString.
	MaxString int
	// Now is the clock of time.now and uuid.v7. Default time.Now.
	Now func() time.Time
	// Rand is the random source of crypto.random_bytes and the uuids. Default crypto/rand.Reader.
	Rand io.Reader
	// Step, when set, is called before each match of re.gsub, re.find_all and re.split (their
	// long iterations); an error it returns stops the call with a Lua error naming it. The
	// sandbox's hook arms the run's deadline and reports the time limit. (Without it, those
	// functions check the state's context.)
	Step func() error
	// OnLimit, when set, is called just before a function raises the error of a broken limit
	// (MaxString, the pattern and layout limits), so that the sandbox can count the run as
	// stopped by a limit. Argument and data errors do not call it.
	OnLimit func()
}

// Names lists the modules Open returns, in a fixed order.
func Names() []string { return []string{"crypto", "base64", "url", "re", "uuid", "time"} }

// Open returns the modules by name ("crypto", "base64", "url", "re", "uuid", "time") as tables of
// Go functions for L. The tables are L's own; the sandbox may wrap them read-only.
func Open(L *lua.LState, o Options) map[string]*lua.LTable {
	if o.MaxString <= 0 {
		o.MaxString = DefaultMaxString
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	m := &lib{o: o}
	return map[string]*lua.LTable{
		"crypto": m.openCrypto(L),
		"base64": m.openBase64(L),
		"url":    m.openURL(L),
		"re":     m.openRe(L),
		"uuid":   m.openUUID(L),
		"time":   m.openTime(L),
	}
}

// lib is the state shared by the functions of one Open call.
type lib struct {
	o Options
}

// fn is a module function: it gets its arguments with the function's full name.
type fn func(a args) int

// register sets the functions of a module table; names are prefixed with the module's name.
func (m *lib) register(L *lua.LState, module string, fns map[string]fn) *lua.LTable {
	tb := L.CreateTable(0, len(fns))
	for name, f := range fns {
		full := module + "." + name
		tb.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			return f(args{L: L, m: m, name: full})
		}))
	}
	return tb
}

// args reads the arguments of one call of a module function.
type args struct {
	L    *lua.LState
	m    *lib
	name string // "crypto.md5"
}

// fail raises an error about the call: "crypto.hmac: ...".
func (a args) fail(format string, v ...any) {
	a.L.RaiseError("%s: %s", a.name, fmt.Sprintf(format, v...))
}

// limit raises the error of a broken limit, after telling the sandbox.
func (a args) limit(format string, v ...any) {
	if a.m.o.OnLimit != nil {
		a.m.o.OnLimit()
	}
	a.fail(format, v...)
}

// checkSize raises the string limit's error when a result of size bytes is too long.
func (a args) checkSize(size int) {
	if size > a.m.o.MaxString || size < 0 {
		a.stringLimit(size)
	}
}

func (a args) stringLimit(size int) {
	if size < 0 { // an overflowed estimate
		size = math.MaxInt
	}
	a.limit("%d bytes is more than the string limit of %d bytes (Config.MaxStringSize)", size, a.m.o.MaxString)
}

// argError raises "bad argument #n to crypto.md5 (msg)".
func (a args) argError(n int, format string, v ...any) {
	a.L.RaiseError("bad argument #%d to %s (%s)", n, a.name, fmt.Sprintf(format, v...))
}

// typeError raises "bad argument #n to f (string expected, got nil)".
func (a args) typeError(n int, expected string) {
	a.argError(n, "%s expected, got %s", expected, a.typeName(n))
}

// typeName names the type of argument n, "no value" when it was not passed.
func (a args) typeName(n int) string {
	if n > a.L.GetTop() {
		return "no value"
	}
	return a.L.Get(n).Type().String()
}

// str returns argument n as a string; a number is converted as Lua does.
func (a args) str(n int) string {
	switch v := a.L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	a.typeError(n, "string")
	return ""
}

// optStr returns argument n as a string, or def when it is nil or absent.
func (a args) optStr(n int, def string) string {
	if a.L.Get(n) == lua.LNil {
		return def
	}
	return a.str(n)
}

// num returns argument n as a number. (Strings are not converted: a script that has text
// says tonumber.)
func (a args) num(n int) float64 {
	if v, ok := a.L.Get(n).(lua.LNumber); ok {
		return float64(v)
	}
	a.typeError(n, "number")
	return 0
}

// integer returns argument n as an integer, refusing fractions. Magnitudes past 2^62 are
// taken as 2^62: every caller refuses such a size or count with its own limit's error.
func (a args) integer(n int) int {
	f := a.num(n)
	if f != math.Trunc(f) {
		a.argError(n, "integer expected, got %s", lua.LNumber(f).String())
	}
	return int(max(min(f, 1<<62), -(1 << 62)))
}

// optInt returns argument n as an integer, or def when it is nil or absent.
func (a args) optInt(n, def int) int {
	if a.L.Get(n) == lua.LNil {
		return def
	}
	return a.integer(n)
}

// raw reads the optional "raw" flag of the digests: true or "raw" for raw bytes, nil, false or
// "hex" for hex text.
func (a args) raw(n int) bool {
	switch v := a.L.Get(n).(type) {
	case *lua.LNilType:
		return false
	case lua.LBool:
		return bool(v)
	case lua.LString:
		switch v {
		case "raw":
			return true
		case "hex":
			return false
		}
		a.argError(n, `true, false, "raw" or "hex" expected, got %q`, string(v))
	}
	a.typeError(n, `boolean, "raw" or "hex"`)
	return false
}

// bytesOf is s's bytes, without a copy, for functions that only read them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// stringOf is b as a string, without a copy; b must not change afterwards.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
