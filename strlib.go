package fastlua

// The string library's caps: string.rep, upper, lower, reverse and format (strformat.go), byte's
// results, and table.concat, each sizing its result against Config.MaxStringSize before it builds
// it; and the bindings of Lua patterns (find, match, gmatch, gsub) to internal/luapattern, with
// state.checkTime (JSON decoding's and the modules' too) as the step hook that stops a match at
// the time limit.

import (
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/fastlua/fastlua/internal/luanum"
	"github.com/fastlua/fastlua/internal/luapattern"
	lua "github.com/yuin/gopher-lua"
)

// maxPattern bounds the length of a Lua pattern.
const maxPattern = 4096

// openString returns the sandbox's string table, made from gopher-lua's (orig): without dump and
// gfind, with the capped functions and fastlua's pattern functions, and sets the string
// metatable, which scripts can neither read nor change.
func (st *state) openString(L *lua.LState, orig *lua.LTable) *lua.LTable {
	str := copyTable(L, orig, "dump", "gfind")
	str.RawSetString("rep", L.NewFunction(st.strRep))
	scratch := make([]byte, 0, fmtScratch)
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int { return st.strFormat(L, scratch) }))
	str.RawSetString("upper", L.NewFunction(func(L *lua.LState) int { return st.strCase(L, "string.upper", unicode.ToUpper, strings.ToUpper) }))
	str.RawSetString("lower", L.NewFunction(func(L *lua.LState) int { return st.strCase(L, "string.lower", unicode.ToLower, strings.ToLower) }))
	str.RawSetString("reverse", L.NewFunction(st.strReverse))
	origByte := str.RawGetString("byte").(*lua.LFunction)
	str.RawSetString("byte", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() > 2 {
			s := L.CheckString(1)
			i := max(position(L.OptInt(2, 1), len(s)), 1)
			j := min(position(L.OptInt(3, -1), len(s)), len(s))
			st.checkResults(L, "string.byte", i, j)
		}
		return callOriginal(L, origByte)
	}))
	step := st.checkTime
	str.RawSetString("find", L.NewFunction(func(L *lua.LState) int { return st.strFind(L, step, true) }))
	str.RawSetString("match", L.NewFunction(func(L *lua.LState) int { return st.strFind(L, step, false) }))
	str.RawSetString("gmatch", L.NewFunction(func(L *lua.LState) int { return st.strGmatch(L, step) }))
	str.RawSetString("gsub", L.NewFunction(func(L *lua.LState) int { return st.strGsub(L, step) }))
	meta := L.CreateTable(0, 2)
	meta.RawSetString("__index", str)
	meta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(lua.LString(""), meta)
	return str
}

func (st *state) raiseStringLimit(L *lua.LState, what string, size int) {
	st.raiseLimit(L, "%s: the result would be %d bytes, more than the string limit of %d bytes (Config.MaxStringSize)", what, size, st.m.cfg.MaxStringSize)
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

// strCase is string.upper and string.lower (gopher-lua's: Unicode-aware, through Go's
// strings.ToUpper and ToLower). Their output's size is counted before it is made: a byte that
// is not UTF-8 becomes U+FFFD, three bytes.
func (st *state) strCase(L *lua.LState, what string, mapRune func(rune) rune, mapString func(string) string) int {
	s := L.CheckString(1)
	if n := caseMappedLen(s, mapRune); n > st.m.cfg.MaxStringSize {
		st.raiseStringLimit(L, what, n)
	}
	L.Push(lua.LString(mapString(s)))
	return 1
}

// caseMappedLen is the length of strings.Map(mapRune, s) for ToUpper and ToLower.
func caseMappedLen(s string, mapRune func(rune) rune) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		n += utf8.RuneLen(mapRune(r))
		i += size
	}
	return n
}

func (st *state) strReverse(L *lua.LState) int {
	s := L.CheckString(1)
	if len(s) > st.m.cfg.MaxStringSize {
		st.raiseStringLimit(L, "string.reverse", len(s))
	}
	if len(s) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	b := make([]byte, len(s))
	for i := range b {
		b[i] = s[len(s)-1-i]
	}
	L.Push(lua.LString(unsafe.String(&b[0], len(b))))
	return 1
}

// tableConcat is table.concat, with gopher-lua's range rules and messages. The result's size
// is summed first, exactly, and refused past the string limit before anything is built; then
// it is built in one allocation (gopher-lua's pushes every element on the value stack).
func (st *state) tableConcat(L *lua.LState) int {
	tb := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := tb.Len()
	i := L.OptInt(3, 1)
	j := L.OptInt(4, n)
	if L.GetTop() == 3 && (i > n || i < 1) {
		L.Push(lua.LString(""))
		return 1
	}
	i = max(min(i, n), 1)
	j = min(j, n)
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	var num [32]byte
	total := 0
	for k := i; k <= j; k++ {
		switch v := tb.RawGetInt(k).(type) {
		case lua.LString:
			total += len(v)
		case lua.LNumber:
			total += len(appendNumber(num[:0], v))
		default:
			L.RaiseError("invalid value (%s) at index %d in table for concat", v.Type().String(), k)
		}
		if k > i {
			total += len(sep)
		}
		if total > st.m.cfg.MaxStringSize {
			st.raiseStringLimit(L, "table.concat", total)
		}
	}
	b := make([]byte, 0, total)
	for k := i; k <= j; k++ {
		if k > i {
			b = append(b, sep...)
		}
		switch v := tb.RawGetInt(k).(type) {
		case lua.LString:
			b = append(b, v...)
		case lua.LNumber:
			b = appendNumber(b, v)
		}
	}
	if len(b) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	L.Push(lua.LString(unsafe.String(&b[0], len(b))))
	return 1
}

// toText is tostring: a number as appendNumber writes it, anything else through its
// __tostring metamethod or as gopher-lua writes it.
func toText(L *lua.LState, v lua.LValue) string {
	if n, ok := v.(lua.LNumber); ok {
		return luanum.String(float64(n))
	}
	return L.ToStringMeta(v).String()
}

// appendNumber appends v as tostring writes it (internal/luanum: the shortest text that reads
// back, in plain decimal from 1e-6 to 1e21, as JavaScript writes numbers).
func appendNumber(dst []byte, v lua.LNumber) []byte {
	return luanum.Append(dst, float64(v))
}

// Lua patterns.

// position converts a Lua string position (negative from the end) to a 1-based one, which may
// still be out of range.
func position(pos, length int) int {
	if pos < 0 {
		pos = length + pos + 1
	}
	return pos
}

func (st *state) checkPatternLength(L *lua.LState, pat, what string) {
	if len(pat) > maxPattern {
		st.raiseLimit(L, "string.%s: the pattern is %d bytes, more than the limit of %d", what, len(pat), maxPattern)
	}
}

// raisePattern raises the error of a match: the pattern's, or the time limit's.
func raisePattern(L *lua.LState, err error) {
	if err == errTimeLimit {
		L.RaiseError("pattern matching stopped: the script exceeded its time limit")
	}
	L.RaiseError("%s", err.Error())
}

// strFind is string.find (find = true) and string.match. The start, init, is Lua 5.1's: a
// position before the string is its start and one past its end is its end, so
// ("abc"):find("", 10) is 4, 3 (Lua 5.2 returns nil).
func (st *state) strFind(L *lua.LState, step func() error, find bool) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	init := min(max(position(L.OptInt(3, 1), len(src)), 1), len(src)+1) - 1 // 0-based
	if find && (lua.LVAsBool(L.Get(4)) || !luapattern.HasSpecials(pat)) {
		if i := strings.Index(src[init:], pat); i >= 0 {
			L.Push(lua.LNumber(init + i + 1))
			L.Push(lua.LNumber(init + i + len(pat)))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	if find {
		st.checkPatternLength(L, pat, "find")
	} else {
		st.checkPatternLength(L, pat, "match")
	}
	var m luapattern.Matcher
	m.Init(src, pat, step, true)
	s, e, err := m.Find(init)
	if err != nil {
		raisePattern(L, err)
	}
	if s < 0 {
		L.Push(lua.LNil)
		return 1
	}
	if find {
		L.Push(lua.LNumber(s + 1))
		L.Push(lua.LNumber(e))
		return pushCaptures(L, &m, s, e, false) + 2
	}
	return pushCaptures(L, &m, s, e, true)
}

// captureValue returns capture i of the match src[s:e]: a string, or a position capture's
// 1-based position.
func captureValue(L *lua.LState, m *luapattern.Matcher, i, s, e int) lua.LValue {
	c, err := m.Capture(i, s, e)
	if err != nil {
		raisePattern(L, err)
	}
	if c.Position {
		return lua.LNumber(c.Start + 1)
	}
	return lua.LString(m.Src[c.Start:c.End])
}

// pushCaptures pushes the captures of the match src[s:e] and returns how many; with whole, a
// pattern without captures pushes the whole match.
func pushCaptures(L *lua.LState, m *luapattern.Matcher, s, e int, whole bool) int {
	n := m.Captures()
	if n == 0 && whole {
		n = 1
	}
	for i := 0; i < n; i++ {
		L.Push(captureValue(L, m, i, s, e))
	}
	return n
}

// strGmatch is string.gmatch: an iterator that finds one match per call. As in Lua 5.1, a
// leading '^' is an ordinary character, and after an empty match the next search starts one
// position further.
func (st *state) strGmatch(L *lua.LState, step func() error) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	st.checkPatternLength(L, pat, "gmatch")
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if pos > len(src) {
			return 0
		}
		var m luapattern.Matcher
		m.Init(src, pat, step, false)
		s, e, err := m.Find(pos)
		if err != nil {
			raisePattern(L, err)
		}
		if s < 0 {
			pos = len(src) + 1
			return 0
		}
		pos = e
		if e == s {
			pos++ // an empty match: move on at least one position
		}
		return pushCaptures(L, &m, s, e, true)
	}))
	return 1
}

// strGsub is string.gsub, linear in the output, with the output capped: every piece is
// checked against the string limit before it is appended (a replacement of many %0 against a
// long match is one piece per %0), and the buffer grows at most to the limit.
func (st *state) strGsub(L *lua.LState, step func() error) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	repl := L.Get(3)
	switch repl.(type) {
	case lua.LString, lua.LNumber, *lua.LTable, *lua.LFunction:
	default:
		L.ArgError(3, "string/function/table expected, got "+repl.Type().String())
	}
	maxN := L.OptInt(4, len(src)+1)
	st.checkPatternLength(L, pat, "gsub")
	var m luapattern.Matcher
	m.Init(src, pat, step, true)
	b := gsubBuffer{st: st, L: L}
	s, n := 0, 0
	for n < maxN {
		start, e, err := m.Find(s) // Lua 5.1 tries each position in turn, copying the skipped bytes
		if err != nil {
			raisePattern(L, err)
		}
		if start < 0 {
			break
		}
		b.write(src[s:start])
		n++
		st.addReplacement(L, &m, &b, repl, start, e)
		switch {
		case e > start:
			s = e
		case start < len(src): // an empty match: copy one byte and move on
			b.write(src[start : start+1])
			s = start + 1
		default:
			s = len(src) + 1
		}
		if s > len(src) || m.Anchored() {
			break
		}
	}
	if s <= len(src) {
		b.write(src[s:])
	}
	if len(b.buf) == 0 {
		L.Push(lua.LString(""))
	} else {
		L.Push(lua.LString(unsafe.String(&b.buf[0], len(b.buf))))
	}
	L.Push(lua.LNumber(n))
	return 2
}

// gsubBuffer is gsub's output: each write is checked against the string limit first.
type gsubBuffer struct {
	st  *state
	L   *lua.LState
	buf []byte
}

func (b *gsubBuffer) write(s string) {
	need := len(b.buf) + len(s)
	if limit := b.st.m.cfg.MaxStringSize; need > limit {
		b.st.raiseStringLimit(b.L, "string.gsub", need)
	}
	if need > cap(b.buf) {
		grown := make([]byte, len(b.buf), min(max(2*cap(b.buf), need, 64), b.st.m.cfg.MaxStringSize))
		copy(grown, b.buf)
		b.buf = grown
	}
	b.buf = append(b.buf, s...)
}

// addReplacement appends the replacement of the match src[s:e]. In a replacement string, %0 is
// the match, %1-%9 a capture and % before any other character that character, as in Lua 5.1; a
// '%' that ends the string is an error, as in Lua 5.2 (Lua 5.1 appends a zero byte, reading the
// string's terminator).
func (st *state) addReplacement(L *lua.LState, m *luapattern.Matcher, b *gsubBuffer, repl lua.LValue, s, e int) {
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		news := luanum.Text(r)
		for i := 0; i < len(news); i++ {
			if news[i] != '%' {
				j := strings.IndexByte(news[i:], '%')
				if j < 0 {
					j = len(news) - i
				}
				b.write(news[i : i+j])
				i += j - 1
				continue
			}
			i++
			if i == len(news) {
				L.RaiseError("%s", "invalid use of '%' in replacement string (it ends with '%'; write '%%' for a '%')")
			}
			switch d := news[i]; {
			case d == '0':
				b.write(m.Src[s:e])
			case d >= '1' && d <= '9':
				b.write(lua.LVAsString(captureValue(L, m, int(d-'1'), s, e)))
			default:
				b.write(news[i : i+1])
			}
		}
		return
	case *lua.LTable:
		v = L.GetTable(r, captureValue(L, m, 0, s, e))
	case *lua.LFunction:
		L.Push(r)
		n := pushCaptures(L, m, s, e, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch v := v.(type) {
	case *lua.LNilType:
		b.write(m.Src[s:e])
	case lua.LBool:
		if v {
			L.RaiseError("invalid replacement value (a boolean)")
		}
		b.write(m.Src[s:e])
	case lua.LString:
		b.write(string(v))
	case lua.LNumber:
		b.write(luanum.String(float64(v)))
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
}
