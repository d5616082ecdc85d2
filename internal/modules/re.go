package modules

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	lua "github.com/yuin/gopher-lua"
)

// The re module: Go's regexp (RE2). RE2 has no backtracking, but its cost is still the
// subject's length times the compiled pattern's size, which for a large pattern and a 4 MiB
// subject is a minute of uninterruptible Go code. So a pattern's size is bounded when it is
// compiled, and the product when it runs (MaxSteps); between two matches of gsub, find_all and
// split the state's context is checked, so the time limit stops a long iteration.
//
// Successive matches follow Go's FindAll exactly: the next search starts where the last match
// ended, with the text before it still in view (^, \b). Go has no "search from here" call, so a
// pattern that looks back (^, \A, \b, \B) searches on from the rune before, as (?s:.)(?:pattern),
// and a pattern that does not searches the rest of the string.

const (
	// MaxPattern bounds a pattern's length in bytes.
	MaxPattern = 4096
	// MaxInstructions bounds a pattern's compiled size (instructions of Go's regexp program).
	MaxInstructions = 10000
	// MaxSteps bounds the subject's length times the pattern's instructions for one call: about
	// 0.3 to 0.7 s of Go's NFA at its slowest here (20 ns a step on a loaded machine), far less
	// for most patterns, which Go scans for a literal prefix first.
	MaxSteps = 1 << 25
	// patternCacheSize is the number of compiled patterns kept, shared by all states.
	patternCacheSize = 512
	// listEntryCost is what a list entry counts against MaxString, besides its text: find_all and
	// split build tables, whose entries cost memory even for empty strings.
	listEntryCost = 16
)

// pattern is a compiled pattern and what its callers need to know about it.
type pattern struct {
	re     *regexp.Regexp
	insts  int  // instructions of the compiled program
	back   bool // the pattern has an assertion on the text before a position
	groups int
	names  []string // SubexpNames

	afterOnce sync.Once
	after     *regexp.Regexp // (?s:.)(?:pattern)
}

var patternCache = func() *lru.Cache[string, *pattern] {
	c, err := lru.New[string, *pattern](patternCacheSize)
	if err != nil {
		panic(err) // a constant, positive size
	}
	return c
}()

func (m *lib) openRe(L *lua.LState) *lua.LTable {
	return m.register(L, "re", map[string]fn{
		"match":    func(a args) int { return reFind(a, false) },
		"find":     func(a args) int { return reFind(a, true) },
		"gmatch":   reGmatch,
		"find_all": reFindAll,
		"gsub":     reGsub,
		"split":    reSplit,
	})
}

// pattern compiles (or takes from the cache) the pattern of argument n, for a subject of
// subject bytes.
func (a args) pattern(n int, subject int) *pattern {
	src := a.str(n)
	if len(src) > MaxPattern {
		a.limit("the pattern is %d bytes, more than the limit of %d", len(src), MaxPattern)
	}
	p, ok := patternCache.Get(src)
	if !ok {
		p = a.compile(n, src)
		patternCache.Add(src, p)
	}
	if steps := int64(subject+1) * int64(p.insts); steps > MaxSteps {
		a.limit("a subject of %d bytes and a pattern of %d instructions could take %d steps, more than the limit of %d (bytes times instructions): match a shorter string or a simpler pattern",
			subject, p.insts, steps, MaxSteps)
	}
	return p
}

func (a args) compile(n int, src string) *pattern {
	tree, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		a.argError(n, "%v", err)
	}
	// Estimated first, so that a short pattern of large repeats ([a-z]{1000} 300 times fits in
	// 4 KiB) is refused before its program is built.
	if est := estimateSize(tree) + 2; est > MaxInstructions { // + the program's fail and match
		a.limit("the pattern compiles to more than %d instructions, its limit (about %d)", MaxInstructions, est)
	}
	prog, err := syntax.Compile(tree.Simplify())
	if err != nil {
		a.argError(n, "%v", err)
	}
	if len(prog.Inst) > MaxInstructions {
		a.limit("the pattern compiles to %d instructions, more than the limit of %d", len(prog.Inst), MaxInstructions)
	}
	re, err := regexp.Compile(src)
	if err != nil {
		a.argError(n, "%v", err)
	}
	return &pattern{re: re, insts: len(prog.Inst), back: looksBack(tree), groups: re.NumSubexp(), names: re.SubexpNames()}
}

// estimateSize is an upper bound of the instructions tree compiles to, saturated past
// MaxInstructions.
func estimateSize(re *syntax.Regexp) int {
	sat := func(n int) int { return min(n, MaxInstructions+1) }
	switch re.Op {
	case syntax.OpLiteral:
		return max(len(re.Rune), 1)
	case syntax.OpCapture:
		return sat(2 + estimateSize(re.Sub[0]))
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return sat(1 + estimateSize(re.Sub[0]))
	case syntax.OpRepeat: // x{2,5} is xx(x(x(x)?)?)?; x{2,} is xxx*
		e := estimateSize(re.Sub[0])
		if re.Max < 0 {
			return sat(re.Min*e + e + 1)
		}
		return sat(max(re.Max*e+re.Max-re.Min, 1)) // x{0} is an empty instruction
	case syntax.OpConcat, syntax.OpAlternate:
		total := len(re.Sub) // the alternations' instructions, more than enough

		for _, sub := range re.Sub {
			total = sat(total + estimateSize(sub))
		}
		return total
	}
	return 1
}

// looksBack reports whether tree has an assertion about the text before a position.
func looksBack(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, sub := range re.Sub {
		if looksBack(sub) {
			return true
		}
	}
	return false
}

// findAt returns the leftmost match in s that starts at pos or later, as Go's FindAll sees it
// (the text before pos in view), in s's offsets; nil when there is none.
func (p *pattern) findAt(s string, pos int) []int {
	if pos == 0 || !p.back {
		loc := p.re.FindStringSubmatchIndex(s[pos:])
		shiftLoc(loc, pos)
		return loc
	}
	p.afterOnce.Do(func() { p.after = regexp.MustCompile(`(?s:.)(?:` + p.re.String() + `)`) })
	_, w := utf8.DecodeLastRuneInString(s[:pos])
	from := pos - w
	loc := p.after.FindStringSubmatchIndex(s[from:])
	if loc == nil {
		return nil
	}
	_, skip := utf8.DecodeRuneInString(s[from+loc[0]:]) // the rune (?s:.) took
	loc[0] += skip
	shiftLoc(loc, from)
	return loc
}

func shiftLoc(loc []int, by int) {
	for i := range loc {
		if loc[i] >= 0 {
			loc[i] += by
		}
	}
}

// each calls f with the successive matches of p in s, at most n of them (n < 0: all), as Go's
// FindAll finds them; f returns false to stop. Before each match it calls Options.Step (or,
// without one, checks the state's context between two matches), so that the time limit stops a
// long iteration.
func (a args) each(p *pattern, s string, n int, f func(loc []int) bool) {
	ctx := a.L.Context()
	prevEnd := -1
	for pos, i := 0, 0; (n < 0 || i < n) && pos <= len(s); {
		if step := a.m.o.Step; step != nil {
			if err := step(); err != nil {
				a.L.RaiseError("%s: %v", a.name, err)
			}
		} else if ctx != nil && pos > 0 {
			if err := ctx.Err(); err != nil {
				a.L.RaiseError("%s: %v", a.name, err)
			}
		}
		loc := p.findAt(s, pos)
		if loc == nil {
			return
		}
		accept := true
		if loc[1] == pos { // an empty match
			if loc[0] == prevEnd {
				accept = false // not right after the previous match
			}
			if pos < len(s) {
				_, w := utf8.DecodeRuneInString(s[pos:])
				pos += w
			} else {
				pos = len(s) + 1
			}
		} else {
			pos = loc[1]
		}
		prevEnd = loc[1]
		if accept {
			i++
			if !f(loc) {
				return
			}
		}
	}
}

// capture is group i of a match: its text, or false when the group did not take part.
func capture(s string, loc []int, i int) lua.LValue {
	if loc[2*i] < 0 {
		return lua.LFalse
	}
	return lua.LString(s[loc[2*i]:loc[2*i+1]])
}

// pushMatch pushes the captures of a match, or the whole match when the pattern has no groups.
func (a args) pushMatch(p *pattern, s string, loc []int) int {
	if p.groups == 0 {
		a.L.Push(lua.LString(s[loc[0]:loc[1]]))
		return 1
	}
	for i := 1; i <= p.groups; i++ {
		a.L.Push(capture(s, loc, i))
	}
	return p.groups
}

// matchValue is a match as one value: the whole match, or the table of its captures.
func (a args) matchValue(p *pattern, s string, loc []int) lua.LValue {
	if p.groups == 0 {
		return lua.LString(s[loc[0]:loc[1]])
	}
	tb := a.L.CreateTable(p.groups, 0)
	for i := 1; i <= p.groups; i++ {
		v := capture(s, loc, i)
		tb.RawSetInt(i, v)
		if p.names[i] != "" {
			tb.RawSetString(p.names[i], v)
		}
	}
	return tb
}

// matchCost is what a match kept in a list counts against MaxString.
func (p *pattern) matchCost(loc []int) int {
	if p.groups == 0 {
		return loc[1] - loc[0] + listEntryCost
	}
	n := listEntryCost
	for i := 1; i <= p.groups; i++ {
		if loc[2*i] >= 0 {
			n += loc[2*i+1] - loc[2*i]
		}
		n += listEntryCost
	}
	return n
}

// reFind is re.find(s, pattern [, init]) (find) and re.match: the search starts at init as if
// the string began there, as string.find's does.
func reFind(a args, find bool) int {
	s := a.str(1)
	init := a.optInt(3, 1)
	if init < 0 {
		init = max(len(s)+init+1, 1)
	} else if init == 0 {
		init = 1
	}
	if init > len(s)+1 {
		a.pattern(2, 0)
		a.L.Push(lua.LNil)
		return 1
	}
	sub := s[init-1:]
	p := a.pattern(2, len(sub))
	loc := p.re.FindStringSubmatchIndex(sub)
	if loc == nil {
		a.L.Push(lua.LNil)
		return 1
	}
	if !find {
		return a.pushMatch(p, sub, loc)
	}
	a.L.Push(lua.LNumber(init + loc[0]))
	a.L.Push(lua.LNumber(init - 1 + loc[1]))
	if p.groups == 0 {
		return 2
	}
	return 2 + a.pushMatch(p, sub, loc)
}

// reGmatch is re.gmatch(s, pattern): an iterator over the matches, each as re.match returns it.
func reGmatch(a args) int {
	s := a.str(1)
	p := a.pattern(2, len(s))
	pos, prevEnd := 0, -1
	name := a.name
	a.L.Push(a.L.NewFunction(func(L *lua.LState) int {
		for pos <= len(s) {
			loc := p.findAt(s, pos)
			if loc == nil {
				break
			}
			accept := !(loc[1] == pos && loc[0] == prevEnd)
			if loc[1] == pos {
				if pos < len(s) {
					_, w := utf8.DecodeRuneInString(s[pos:])
					pos += w
				} else {
					pos = len(s) + 1
				}
			} else {
				pos = loc[1]
			}
			prevEnd = loc[1]
			if accept {
				return args{L: L, m: a.m, name: name}.pushMatch(p, s, loc)
			}
		}
		pos = len(s) + 1
		L.Push(lua.LNil)
		return 1
	}))
	return 1
}

// reFindAll is re.find_all(s, pattern [, n]).
func reFindAll(a args) int {
	s := a.str(1)
	p := a.pattern(2, len(s))
	n := a.optInt(3, -1)
	list := a.L.CreateTable(0, 0)
	size, i := 0, 0
	a.each(p, s, n, func(loc []int) bool {
		if size += p.matchCost(loc); size > a.m.o.MaxString {
			a.limit("the matches take more than the string limit of %d bytes (Config.MaxStringSize), counting %d bytes for each: pass n, or iterate with re.gmatch", a.m.o.MaxString, listEntryCost)
		}
		i++
		list.RawSetInt(i, a.matchValue(p, s, loc))
		return true
	})
	a.L.Push(list)
	return 1
}

// reSplit is re.split(s, pattern [, n]), Go's Regexp.Split.
func reSplit(a args) int {
	s := a.str(1)
	p := a.pattern(2, len(s))
	n := a.optInt(3, -1)
	list := a.L.CreateTable(0, 0)
	if n == 0 {
		a.L.Push(list)
		return 1
	}
	size := 0
	add := func(piece string) {
		if size += len(piece) + listEntryCost; size > a.m.o.MaxString {
			a.limit("the pieces take more than the string limit of %d bytes (Config.MaxStringSize), counting %d bytes for each: pass n", a.m.o.MaxString, listEntryCost)
		}
		list.Append(lua.LString(piece))
	}
	if p.re.String() != "" && s == "" {
		add("")
		a.L.Push(list)
		return 1
	}
	beg, end, count := 0, 0, 0
	a.each(p, s, n, func(loc []int) bool {
		if n > 0 && count == n-1 {
			return false
		}
		end = loc[0]
		if loc[1] != 0 {
			add(s[beg:end])
			count++
		}
		beg = loc[1]
		return true
	})
	if end != len(s) {
		add(s[beg:])
	}
	a.L.Push(list)
	return 1
}

// template is a gsub replacement string in Go's Expand syntax, parsed once per call.
type template []tpart

// tpart is literal text, or a group (group >= 0; -1 for a name that is no group).
type tpart struct {
	text  string
	group int
	isRef bool
}

// parseTemplate parses t as Regexp.Expand reads it: $$ is $, $name or ${name} a group by
// number or name (the longest run of letters, digits and _), a $ that starts neither is text.
func parseTemplate(p *pattern, t string) template {
	var out template
	for len(t) > 0 {
		before, after, ok := strings.Cut(t, "$")
		if !ok {
			break
		}
		if before != "" {
			out = append(out, tpart{text: before})
		}
		t = after
		if t != "" && t[0] == '$' {
			out = append(out, tpart{text: "$"})
			t = t[1:]
			continue
		}
		name, num, rest, ok := extractName(t)
		if !ok {
			out = append(out, tpart{text: "$"})
			continue
		}
		t = rest
		if num < 0 {
			num = -1
			for i, n := range p.names {
				if i > 0 && n == name {
					num = i
					break
				}
			}
		} else if num > p.groups {
			num = -1
		}
		out = append(out, tpart{group: num, isRef: true})
	}
	if t != "" {
		out = append(out, tpart{text: t})
	}
	return out
}

// extractName is Go's regexp extract: a name, and its number when it is one.
func extractName(str string) (name string, num int, rest string, ok bool) {
	if str == "" {
		return
	}
	brace := false
	if str[0] == '{' {
		brace = true
		str = str[1:]
	}
	i := 0
	for i < len(str) {
		r, size := utf8.DecodeRuneInString(str[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			break
		}
		i += size
	}
	if i == 0 {
		return
	}
	name = str[:i]
	if brace {
		if i >= len(str) || str[i] != '}' {
			return
		}
		i++
	}
	num = 0
	for j := 0; j < len(name); j++ {
		if name[j] < '0' || '9' < name[j] || num >= 1e8 {
			num = -1
			break
		}
		num = num*10 + int(name[j]) - '0'
	}
	if name[0] == '0' && len(name) > 1 {
		num = -1
	}
	return name, num, str[i:], true
}

// size is the length of the template expanded for a match.
func (t template) size(loc []int) int {
	n := 0
	for _, part := range t {
		switch {
		case !part.isRef:
			n += len(part.text)
		case part.group >= 0 && loc[2*part.group] >= 0:
			n += loc[2*part.group+1] - loc[2*part.group]
		}
	}
	return n
}

func (t template) appendTo(dst []byte, s string, loc []int) []byte {
	for _, part := range t {
		switch {
		case !part.isRef:
			dst = append(dst, part.text...)
		case part.group >= 0 && loc[2*part.group] >= 0:
			dst = append(dst, s[loc[2*part.group]:loc[2*part.group+1]]...)
		}
	}
	return dst
}

// reGsub is re.gsub(s, pattern, repl [, n]).
func reGsub(a args) int {
	s := a.str(1)
	p := a.pattern(2, len(s))
	L := a.L
	repl := L.Get(3)
	var tpl template
	isTemplate := false
	switch r := repl.(type) {
	case lua.LString:
		tpl, isTemplate = parseTemplate(p, string(r)), true
	case lua.LNumber:
		tpl, isTemplate = parseTemplate(p, r.String()), true
	case *lua.LTable, *lua.LFunction:
	default:
		a.typeError(3, "string, table or function")
	}
	n := a.optInt(4, -1)
	max := a.m.o.MaxString
	var buf []byte
	last, count := 0, 0
	grow := func(extra int) {
		if len(buf)+extra > max {
			a.stringLimit(len(buf) + extra)
		}
	}
	a.each(p, s, n, func(loc []int) bool {
		if count == 0 {
			buf = make([]byte, 0, min(len(s), max))
		}
		count++
		grow(loc[0] - last)
		buf = append(buf, s[last:loc[0]]...)
		last = loc[1]
		if isTemplate {
			grow(tpl.size(loc))
			buf = tpl.appendTo(buf, s, loc)
			return true
		}
		var v lua.LValue
		if tb, ok := repl.(*lua.LTable); ok {
			key := lua.LValue(lua.LString(s[loc[0]:loc[1]]))
			if p.groups > 0 {
				key = capture(s, loc, 1)
			}
			v = L.GetTable(tb, key)
		} else {
			L.Push(repl)
			L.Call(a.pushMatch(p, s, loc), 1)
			v = L.Get(-1)
			L.Pop(1)
		}
		var text string
		switch v := v.(type) {
		case *lua.LNilType:
			text = s[loc[0]:loc[1]]
		case lua.LBool:
			if v {
				a.fail("invalid replacement value (a boolean true): a string, a number, nil or false expected")
			}
			text = s[loc[0]:loc[1]]
		case lua.LString:
			text = string(v)
		case lua.LNumber:
			text = v.String()
		default:
			a.fail("invalid replacement value (a %s): a string, a number, nil or false expected", v.Type().String())
		}
		grow(len(text))
		buf = append(buf, text...)
		return true
	})
	if count == 0 {
		L.Push(lua.LString(s))
		L.Push(lua.LNumber(0))
		return 2
	}
	grow(len(s) - last)
	buf = append(buf, s[last:]...)
	L.Push(lua.LString(stringOf(buf)))
	L.Push(lua.LNumber(count))
	return 2
}
