package fastlua

import (
	"strconv"
	"strings"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// Lua patterns.
//
// string.find, match, gmatch and gsub use this port of Lua 5.1's matcher (lstrlib.c) instead of
// gopher-lua's. Backtracking makes some patterns take time polynomial or worse in the subject's
// length (".-.-.-b" against a long string of a), and one builtin call cannot be interrupted by
// the VM's time check, so the matcher counts its steps and checks the run's time limit itself.
// Recursion is bounded as in Lua 5.2 ("pattern too complex"), and gmatch and gsub find their
// matches one at a time instead of building a list of all of them.

const (
	capUnfinished = -1
	capPosition   = -2
	maxCaptures   = 32
	maxMatchDepth = 200
	stepsPerCheck = 1 << 12
)

type capture struct{ init, len int }

type matcher struct {
	L       *lua.LState
	st      *state
	src     string
	pat     string
	level   int
	capture [maxCaptures]capture
	depth   int
	steps   int
}

// step counts work and checks the time limit every stepsPerCheck steps. A match that gets that
// far arms a pending deadline (see state.arm), so that the watchdog can stop it.
func (m *matcher) step() {
	m.steps++
	if m.steps%stepsPerCheck == 0 {
		m.st.arm()
		if m.st.ctx.fired.Load() {
			m.L.RaiseError("pattern matching stopped: the script exceeded its time limit")
		}
	}
}

func (m *matcher) fail(msg string) { m.L.RaiseError("%s", msg) }

func (m *matcher) at(i int) int {
	if i < len(m.src) {
		return int(m.src[i])
	}
	return 0
}

func (m *matcher) classEnd(p int) int {
	pat := m.pat
	c := pat[p]
	p++
	switch c {
	case '%':
		if p >= len(pat) {
			m.fail("malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if p < len(pat) && pat[p] == '^' {
			p++
		}
		for {
			if p >= len(pat) {
				m.fail("malformed pattern (missing ']')")
			}
			c := pat[p]
			p++
			if c == '%' && p < len(pat) {
				p++
			}
			if p < len(pat) && pat[p] == ']' {
				return p + 1
			}
			if p >= len(pat) {
				m.fail("malformed pattern (missing ']')")
			}
		}
	}
	return p
}

func isLower(c int) bool  { return c >= 'a' && c <= 'z' }
func isUpper(c int) bool  { return c >= 'A' && c <= 'Z' }
func isDigit(c int) bool  { return c >= '0' && c <= '9' }
func isAlpha(c int) bool  { return isLower(c) || isUpper(c) }
func isSpace(c int) bool  { return c == ' ' || c >= '\t' && c <= '\r' }
func isCntrl(c int) bool  { return c < 32 || c == 127 }
func isPunct(c int) bool  { return c > 32 && c < 127 && !isAlpha(c) && !isDigit(c) }
func isXDigit(c int) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func matchClass(c, cl int) bool {
	var res bool
	lower := cl
	if isUpper(cl) {
		lower = cl + 'a' - 'A'
	}
	switch lower {
	case 'a':
		res = isAlpha(c)
	case 'c':
		res = isCntrl(c)
	case 'd':
		res = isDigit(c)
	case 'l':
		res = isLower(c)
	case 'p':
		res = isPunct(c)
	case 's':
		res = isSpace(c)
	case 'u':
		res = isUpper(c)
	case 'w':
		res = isAlpha(c) || isDigit(c)
	case 'x':
		res = isXDigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if isLower(cl) {
		return res
	}
	return !res
}

// matchBracketClass: p is at '[', ec at the closing ']'.
func (m *matcher) matchBracketClass(c, p, ec int) bool {
	pat := m.pat
	sig := true
	if pat[p+1] == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		switch {
		case pat[p] == '%':
			p++
			if matchClass(c, int(pat[p])) {
				return sig
			}
		case p+2 < ec && pat[p+1] == '-':
			p += 2
			if int(pat[p-2]) <= c && c <= int(pat[p]) {
				return sig
			}
		case int(pat[p]) == c:
			return sig
		}
	}
	return !sig
}

func (m *matcher) singleMatch(s, p, ep int) bool {
	if s >= len(m.src) {
		return false
	}
	c := int(m.src[s])
	switch m.pat[p] {
	case '.':
		return true
	case '%':
		return matchClass(c, int(m.pat[p+1]))
	case '[':
		return m.matchBracketClass(c, p, ep-1)
	}
	return int(m.pat[p]) == c
}

func (m *matcher) matchBalance(s, p int) int {
	if p+1 >= len(m.pat) {
		m.fail("unbalanced pattern")
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1
	}
	b, e := m.pat[p], m.pat[p+1]
	cont := 1
	for s++; s < len(m.src); s++ {
		m.step()
		switch m.src[s] {
		case e:
			if cont--; cont == 0 {
				return s + 1
			}
		case b:
			cont++
		}
	}
	return -1
}

func (m *matcher) maxExpand(s, p, ep int) int {
	i := 0
	for m.singleMatch(s+i, p, ep) {
		i++
		m.step()
	}
	for ; i >= 0; i-- {
		if res := m.match(s+i, ep+1); res != -1 {
			return res
		}
	}
	return -1
}

func (m *matcher) minExpand(s, p, ep int) int {
	for {
		if res := m.match(s, ep+1); res != -1 {
			return res
		}
		if !m.singleMatch(s, p, ep) {
			return -1
		}
		s++
	}
}

func (m *matcher) startCapture(s, p, what int) int {
	if m.level >= maxCaptures {
		m.fail("too many captures")
	}
	m.capture[m.level] = capture{s, what}
	m.level++
	res := m.match(s, p)
	if res == -1 {
		m.level--
	}
	return res
}

func (m *matcher) endCapture(s, p int) int {
	l := -1
	for i := m.level - 1; i >= 0; i-- {
		if m.capture[i].len == capUnfinished {
			l = i
			break
		}
	}
	if l < 0 {
		m.fail("invalid pattern capture")
	}
	m.capture[l].len = s - m.capture[l].init
	res := m.match(s, p)
	if res == -1 {
		m.capture[l].len = capUnfinished
	}
	return res
}

func (m *matcher) matchCapture(s, l int) int {
	l -= '1'
	if l < 0 || l >= m.level || m.capture[l].len == capUnfinished {
		m.fail("invalid capture index")
	}
	c := m.capture[l]
	if len(m.src)-s >= c.len && m.src[c.init:c.init+c.len] == m.src[s:s+c.len] {
		return s + c.len
	}
	return -1
}

// match returns the end of the match of pattern pat[p:] at src[s:], or -1.
func (m *matcher) match(s, p int) int {
	m.depth++
	if m.depth > maxMatchDepth {
		m.fail("pattern too complex")
	}
	defer func() { m.depth-- }()
	pat := m.pat
	for {
		m.step()
		if p >= len(pat) {
			return s
		}
		switch pat[p] {
		case '(':
			if p+1 < len(pat) && pat[p+1] == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '$':
			if p+1 == len(pat) {
				if s == len(m.src) {
					return s
				}
				return -1
			}
		case '%':
			if p+1 < len(pat) {
				switch c := pat[p+1]; {
				case c == 'b':
					if s = m.matchBalance(s, p+2); s == -1 {
						return -1
					}
					p += 4
					continue
				case c == 'f':
					p += 2
					if p >= len(pat) || pat[p] != '[' {
						m.fail("missing '[' after '%f' in pattern")
					}
					ep := m.classEnd(p)
					prev := 0
					if s > 0 {
						prev = int(m.src[s-1])
					}
					if m.matchBracketClass(prev, p, ep-1) || !m.matchBracketClass(m.at(s), p, ep-1) {
						return -1
					}
					p = ep
					continue
				case isDigit(int(c)):
					if s = m.matchCapture(s, int(c)); s == -1 {
						return -1
					}
					p += 2
					continue
				}
			}
		}
		// A single-character item, with its repetition.
		ep := m.classEnd(p)
		matched := m.singleMatch(s, p, ep)
		var op byte
		if ep < len(pat) {
			op = pat[ep]
		}
		switch op {
		case '?':
			if matched {
				if res := m.match(s+1, ep+1); res != -1 {
					return res
				}
			}
			p = ep + 1
		case '*':
			return m.maxExpand(s, p, ep)
		case '+':
			if !matched {
				return -1
			}
			return m.maxExpand(s+1, p, ep)
		case '-':
			return m.minExpand(s, p, ep)
		default:
			if !matched {
				return -1
			}
			s++
			p = ep
		}
	}
}

// captureValue returns capture i of a match src[s:e]; with no captures, capture 0 is the match.
func (m *matcher) captureValue(i, s, e int) lua.LValue {
	if i >= m.level {
		if i == 0 {
			return lua.LString(m.src[s:e])
		}
		m.fail("invalid capture index")
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		m.fail("unfinished capture")
	case capPosition:
		return lua.LNumber(c.init + 1)
	}
	return lua.LString(m.src[c.init : c.init+c.len])
}

// pushCaptures pushes the captures of a match (or the whole match) and returns how many.
func (m *matcher) pushCaptures(s, e int, whole bool) int {
	n := m.level
	if n == 0 && whole {
		n = 1
	}
	for i := 0; i < n; i++ {
		m.L.Push(m.captureValue(i, s, e))
	}
	return n
}

const patternSpecials = "^$*+?.([%-"

// position converts a Lua string position (negative from the end) to a 0-based offset.
func position(pos, length int) int {
	if pos < 0 {
		pos = length + pos + 1
	}
	return pos
}

func (st *state) newMatcher(L *lua.LState, src, pat string) *matcher {
	return &matcher{L: L, st: st, src: src, pat: pat}
}

// strFind is string.find (find = true) and string.match.
func (st *state) strFind(L *lua.LState, find bool) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	init := position(L.OptInt(3, 1), len(src))
	if init < 1 {
		init = 1
	}
	if init > len(src)+1 {
		L.Push(lua.LNil)
		return 1
	}
	if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(pat, patternSpecials)) {
		if i := strings.Index(src[init-1:], pat); i >= 0 {
			L.Push(lua.LNumber(init + i))
			L.Push(lua.LNumber(init + i + len(pat) - 1))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	st.checkPatternLength(L, pat, "find")
	m := st.newMatcher(L, src, pat)
	p := 0
	anchor := len(pat) > 0 && pat[0] == '^'
	if anchor {
		p = 1
	}
	for s := init - 1; ; s++ {
		m.level, m.depth = 0, 0
		if e := m.match(s, p); e != -1 {
			if find {
				L.Push(lua.LNumber(s + 1))
				L.Push(lua.LNumber(e))
				return m.pushCaptures(-1, -1, false) + 2
			}
			return m.pushCaptures(s, e, true)
		}
		if s >= len(src) || anchor {
			break
		}
	}
	L.Push(lua.LNil)
	return 1
}

// strGmatch is string.gmatch: an iterator that finds one match per call.
func (st *state) strGmatch(L *lua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	st.checkPatternLength(L, pat, "gmatch")
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		m := st.newMatcher(L, src, pat)
		for s := pos; s <= len(src); s++ {
			m.level, m.depth = 0, 0
			if e := m.match(s, 0); e != -1 {
				pos = e
				if e == s {
					pos++ // an empty match: move on at least one position
				}
				return m.pushCaptures(s, e, true)
			}
		}
		pos = len(src) + 1
		return 0
	}))
	return 1
}

// strGsub is string.gsub, linear in the output, with the output capped: every piece is
// checked against the string limit before it is appended (a replacement of many %0 against a
// long match is one piece per %0), and the buffer grows at most to the limit.
func (st *state) strGsub(L *lua.LState) int {
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
	m := st.newMatcher(L, src, pat)
	p := 0
	anchor := len(pat) > 0 && pat[0] == '^'
	if anchor {
		p = 1
	}
	b := gsubBuffer{st: st, L: L}
	s, n := 0, 0
	for n < maxN {
		m.level, m.depth = 0, 0
		e := m.match(s, p)
		if e != -1 {
			n++
			st.addReplacement(L, m, &b, repl, s, e)
		}
		switch {
		case e != -1 && e > s:
			s = e
		case s < len(src):
			b.write(src[s : s+1])
			s++
		default:
			s = len(src) + 1
		}
		if s > len(src) || anchor {
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

func (st *state) addReplacement(L *lua.LState, m *matcher, b *gsubBuffer, repl lua.LValue, s, e int) {
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		news := r.String()
		for i := 0; i < len(news); i++ {
			c := news[i]
			if c != '%' {
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
				break
			}
			switch d := news[i]; {
			case d == '0':
				b.write(m.src[s:e])
			case d >= '1' && d <= '9':
				b.write(lua.LVAsString(m.captureValue(int(d-'1'), s, e)))
			default:
				b.write(news[i : i+1])
			}
		}
		return
	case *lua.LTable:
		v = L.GetTable(r, m.captureValue(0, s, e))
	case *lua.LFunction:
		L.Push(r)
		n := m.pushCaptures(s, e, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch v := v.(type) {
	case *lua.LNilType:
		b.write(m.src[s:e])
	case lua.LBool:
		if v {
			L.RaiseError("invalid replacement value (a boolean)")
		}
		b.write(m.src[s:e])
	case lua.LString:
		b.write(string(v))
	case lua.LNumber:
		b.write(strconv.FormatFloat(float64(v), 'g', 14, 64))
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
}
