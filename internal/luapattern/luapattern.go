// Package luapattern is Lua 5.1's pattern matcher (lstrlib.c), for the sandbox's string.find,
// match, gmatch and gsub. It matches byte strings, with Lua 5.1's classes (C locale), sets,
// captures, position captures, back-references, %b and %f, and gives Lua 5.1's results and error
// messages, with these deliberate differences:
//
//   - Recursion is bounded, as in Lua 5.2: a pattern that nests more than MaxDepth matches deep
//     (one level per capture, '?', '*', '+' or '-' item still being tried) fails with "pattern
//     too complex" instead of overflowing the stack.
//   - A zero byte in a pattern is an ordinary character, as in Lua 5.2 (Lua 5.1 ends the
//     pattern there, a strlen artefact).
//   - The work of a match is counted (about one step per character tried, one per 64 bytes a
//     back-reference compares), and Matcher.Step is called every CheckEvery steps: the caller's
//     hook stops a match that runs too long (backtracking can take time polynomial or worse in
//     the subject's length).
package luapattern

// How it works: match is lstrlib.c's match, item by item, recursing for captures and for each
// repetition it backtracks over; errors (a malformed pattern, a limit, the hook's error) panic
// with matchError and are recovered by the exported methods, which return them.

import "strings"

const (
	// MaxCaptures bounds the captures of a pattern (Lua 5.1's LUA_MAXCAPTURES).
	MaxCaptures = 32
	// MaxDepth bounds the recursion of a match (Lua 5.2's MAXCCALLS).
	MaxDepth = 200
	// CheckEvery is how many steps of work a match does between two calls of Matcher.Step.
	CheckEvery = 1 << 12
)

const (
	capUnfinished = -1
	capPosition   = -2
	specials      = "^$*+?.([%-"
)

// Error is a malformed pattern or a broken limit, with Lua's message ("malformed pattern (ends
// with '%')", "invalid capture index", "pattern too complex", ...).
type Error struct{ msg string }

// Error returns the error's text.
func (e *Error) Error() string { return e.msg }

// matchError carries an error out of a match: the engine's own or the Step hook's.
type matchError struct{ err error }

// HasSpecials reports whether pat holds one of the characters that make a pattern more than
// plain text: string.find without them is a plain search, as in Lua 5.1.
func HasSpecials(pat string) bool { return strings.ContainsAny(pat, specials) }

type capture struct{ init, len int }

// Capture is one capture of a match: the subject's bytes Start:End, or, for a position capture
// ("()"), the 0-based offset Start (Lua's position is Start+1) and End == Start.
type Capture struct {
	Start, End int
	Position   bool
}

// A Matcher matches one pattern against one subject, as many times as its caller asks (find
// once, gmatch and gsub from one position to the next). The zero value with Src and Pat set is
// ready; Init sets both and resets the rest. A Matcher is not safe for concurrent use.
type Matcher struct {
	Src, Pat string
	// Step, when set, is called every CheckEvery steps of work (the count goes on across the
	// matches of one Matcher); an error it returns stops the match, and Find or MatchAt
	// returns it as it is. Step must return its error, not panic: a panic that is not the
	// engine's own goes on up as it came.
	Step func() error

	anchor  bool
	level   int
	depth   int
	left    int // steps left before the next call of Step
	capture [MaxCaptures]capture
}

// Init makes m ready to match pat against src. With anchor true, a leading '^' anchors the
// pattern to the position where a match is tried (string.find, match and gsub); with anchor
// false it is an ordinary character (string.gmatch, as in Lua 5.1).
func (m *Matcher) Init(src, pat string, step func() error, anchor bool) {
	*m = Matcher{Src: src, Pat: pat, Step: step, anchor: anchor && len(pat) > 0 && pat[0] == '^', left: CheckEvery}
}

// Anchored reports whether the pattern is anchored by a leading '^' (see Init).
func (m *Matcher) Anchored() bool { return m.anchor }

// Find looks for the first match at or after the 0-based offset init (0 <= init <= len(Src)) and
// returns its bounds, Src[start:end]; start is -1 when there is none. An anchored pattern is
// tried at init only.
func (m *Matcher) Find(init int) (start, end int, err error) {
	defer m.recover(&err)
	p := m.patStart()
	for s := init; ; s++ {
		m.level, m.depth = 0, 0
		if e := m.match(s, p); e != -1 {
			return s, e, nil
		}
		if s >= len(m.Src) || m.anchor {
			return -1, -1, nil
		}
	}
}

// MatchAt tries the pattern at the 0-based offset s (0 <= s <= len(Src)) only, and returns the
// end of the match, or -1.
func (m *Matcher) MatchAt(s int) (end int, err error) {
	defer m.recover(&err)
	m.level, m.depth = 0, 0
	return m.match(s, m.patStart()), nil
}

func (m *Matcher) patStart() int {
	if m.anchor {
		return 1
	}
	return 0
}

// recover turns the panic of a matchError into the error of an exported method; any other panic
// goes on.
func (m *Matcher) recover(err *error) {
	if r := recover(); r != nil {
		me, ok := r.(matchError)
		if !ok {
			panic(r)
		}
		*err = me.err
	}
}

// Captures is the number of captures of the last match: 0 for a pattern without any.
func (m *Matcher) Captures() int { return m.level }

// Capture returns capture i (0-based) of the last match, which was Src[s:e]. For a pattern
// without captures, capture 0 is the whole match.
func (m *Matcher) Capture(i, s, e int) (Capture, error) {
	if i >= m.level {
		if i == 0 {
			return Capture{Start: s, End: e}, nil
		}
		return Capture{}, &Error{"invalid capture index"}
	}
	switch c := m.capture[i]; c.len {
	case capUnfinished:
		return Capture{}, &Error{"unfinished capture"}
	case capPosition:
		return Capture{Start: c.init, End: c.init, Position: true}, nil
	default:
		return Capture{Start: c.init, End: c.init + c.len}, nil
	}
}

// step counts n steps of work and calls the hook when CheckEvery have passed since its last call.
// (It is small enough to be inlined; check is not.)
func (m *Matcher) step(n int) {
	if m.left -= n; m.left < 0 {
		m.check()
	}
}

func (m *Matcher) check() {
	m.left = CheckEvery
	if m.Step != nil {
		if err := m.Step(); err != nil {
			panic(matchError{err})
		}
	}
}

func (m *Matcher) fail(msg string) { panic(matchError{&Error{msg}}) }

// at is the subject's byte at s, 0 past its end (where Lua 5.1 reads the terminating zero).
func (m *Matcher) at(s int) int {
	if s < len(m.Src) {
		return int(m.Src[s])
	}
	return 0
}

// classEnd returns the end of the single-character class at p: after "%x", "[...]" or one byte.
func (m *Matcher) classEnd(p int) int {
	pat := m.Pat
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
		for { // look for the ']': the first byte of the set is never it
			if p >= len(pat) {
				m.fail("malformed pattern (missing ']')")
			}
			c := pat[p]
			p++
			if c == '%' && p < len(pat) {
				p++ // skip an escape (%])
			}
			if p >= len(pat) {
				m.fail("malformed pattern (missing ']')")
			}
			if pat[p] == ']' {
				return p + 1
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

// matchClass reports whether byte c is in the class %cl; an upper-case class is the complement.
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

// matchBracketClass reports whether byte c is in the set whose '[' is at p and ']' at ec.
func (m *Matcher) matchBracketClass(c, p, ec int) bool {
	pat := m.Pat
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

// singleMatch reports whether the subject's byte at s is in the class pat[p:ep].
func (m *Matcher) singleMatch(s, p, ep int) bool {
	if s >= len(m.Src) {
		return false
	}
	c := int(m.Src[s])
	switch m.Pat[p] {
	case '.':
		return true
	case '%':
		return matchClass(c, int(m.Pat[p+1]))
	case '[':
		return m.matchBracketClass(c, p, ep-1)
	}
	return int(m.Pat[p]) == c
}

// matchBalance matches %bxy at s (p is at x): the end of the balanced text, or -1.
func (m *Matcher) matchBalance(s, p int) int {
	if p+1 >= len(m.Pat) {
		m.fail("unbalanced pattern")
	}
	if s >= len(m.Src) || m.Src[s] != m.Pat[p] {
		return -1
	}
	b, e := m.Pat[p], m.Pat[p+1]
	cont := 1
	for s++; s < len(m.Src); s++ {
		m.step(1)
		switch m.Src[s] {
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

// maxExpand matches the class pat[p:ep] as many times as it can, then backs off one at a time
// until the rest of the pattern (after ep's '*' or '+') matches.
func (m *Matcher) maxExpand(s, p, ep int) int {
	i := 0
	for m.singleMatch(s+i, p, ep) {
		i++
		m.step(1)
	}
	for ; i >= 0; i-- {
		if res := m.match(s+i, ep+1); res != -1 {
			return res
		}
	}
	return -1
}

// minExpand matches the class pat[p:ep] as few times as the rest of the pattern allows ('-').
func (m *Matcher) minExpand(s, p, ep int) int {
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

func (m *Matcher) startCapture(s, p, what int) int {
	if m.level >= MaxCaptures {
		m.fail("too many captures")
	}
	m.capture[m.level] = capture{s, what}
	m.level++
	res := m.match(s, p)
	if res == -1 {
		m.level-- // undo the capture
	}
	return res
}

func (m *Matcher) endCapture(s, p int) int {
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

// matchCapture matches a back-reference %1-%9 at s: the end of the repeated text, or -1. A
// back-reference to a position capture never matches (in Lua 5.1 its length, -2, compares as a
// huge unsigned size).
func (m *Matcher) matchCapture(s, l int) int {
	l -= '1'
	if l < 0 || l >= m.level || m.capture[l].len == capUnfinished {
		m.fail("invalid capture index")
	}
	c := m.capture[l]
	if c.len == capPosition {
		return -1
	}
	m.step(c.len >> 6)
	if len(m.Src)-s >= c.len && m.Src[c.init:c.init+c.len] == m.Src[s:s+c.len] {
		return s + c.len
	}
	return -1
}

// match returns the end of the match of pattern Pat[p:] at Src[s:], or -1.
func (m *Matcher) match(s, p int) int {
	if m.depth++; m.depth > MaxDepth {
		m.fail("pattern too complex")
	}
	res := m.doMatch(s, p)
	m.depth--
	return res
}

func (m *Matcher) doMatch(s, p int) int {
	pat := m.Pat
	for {
		m.step(1)
		if p >= len(pat) {
			return s // the end of the pattern: a match
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
			if p+1 == len(pat) { // the last character: the end of the subject
				if s == len(m.Src) {
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
						prev = int(m.Src[s-1])
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
		// A single-character class, with its repetition.
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
