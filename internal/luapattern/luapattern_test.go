package luapattern

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/pm"
)

// testdata/lua51.txt holds the cases of the engine's tests and Lua 5.1.5's answers to them, one
// case a line: the pattern, the subject and init of string.find(subject, pattern, init), and
// what it returned, each field tab-separated, strings Go-quoted. A result is "nil", "error: "
// and Lua's message, or the match's start and end (1-based) and its captures: a string, or "()"
// and a position. Add a case with the result "?" and record the file again with Lua 5.1:
//
//	FASTLUA_LUA51=lua5.1 go test -run TestRecordLua51 ./internal/luapattern/
type fileCase struct {
	pat, src string
	init     int
	want     string
}

func readCases(t testing.TB) []fileCase {
	t.Helper()
	f, err := os.Open("testdata/lua51.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []fileCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, "\t", 4)
		if len(fields) != 4 {
			t.Fatalf("testdata/lua51.txt:%d: %d fields, want 4", n, len(fields))
		}
		pat, err1 := strconv.Unquote(fields[0])
		src, err2 := strconv.Unquote(fields[1])
		init, err3 := strconv.Atoi(fields[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("testdata/lua51.txt:%d: %v", n, err)
		}
		cases = append(cases, fileCase{pat, src, init, fields[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// zeroBased converts string.find's init to the 0-based start Find takes, as Lua 5.1 does: from
// the end when negative, then into 0..len(src).
func zeroBased(init, n int) int {
	if init < 0 {
		init += n + 1
	}
	return min(max(init, 1), n+1) - 1
}

// find runs the engine as string.find does (a pattern without specials is plain text) and
// writes its answer as testdata/lua51.txt does.
func find(pat, src string, init int, step func() error) string {
	if !HasSpecials(pat) {
		return findPlain(pat, src, init)
	}
	var m Matcher
	m.Init(src, pat, step, true)
	s, e, err := m.Find(zeroBased(init, len(src)))
	if err != nil {
		return "error: " + err.Error()
	}
	if s < 0 {
		return "nil"
	}
	out := []string{strconv.Itoa(s + 1), strconv.Itoa(e)}
	for i := 0; i < m.Captures(); i++ {
		c, err := m.Capture(i, s, e)
		if err != nil {
			return "error: " + err.Error()
		}
		if c.Position {
			out = append(out, "()"+strconv.Itoa(c.Start+1))
		} else {
			out = append(out, strconv.Quote(src[c.Start:c.End]))
		}
	}
	return strings.Join(out, " ")
}

func findPlain(pat, src string, init int) string {
	from := zeroBased(init, len(src))
	i := strings.Index(src[from:], pat)
	if i < 0 {
		return "nil"
	}
	return fmt.Sprintf("%d %d", from+i+1, from+i+len(pat))
}

// findPM is the same answer from gopher-lua's matcher (package pm), whose errors have other
// messages: every error is "error". pm itself panics on some patterns (a back-reference to a
// capture still open, "(b)((B)%2)"): that is "panic".
func findPM(pat, src string, init int) (res string) {
	if !HasSpecials(pat) {
		return findPlain(pat, src, init)
	}
	defer func() {
		if recover() != nil {
			res = "panic"
		}
	}()
	mds, err := pm.Find(pat, []byte(src), zeroBased(init, len(src)), 1)
	if err != nil {
		return "error"
	}
	if len(mds) == 0 {
		return "nil"
	}
	md := mds[0]
	out := []string{strconv.Itoa(md.Capture(0) + 1), strconv.Itoa(md.Capture(1))}
	for i := 2; i+1 < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			out = append(out, "()"+strconv.Itoa(md.Capture(i)))
		} else {
			out = append(out, strconv.Quote(src[md.Capture(i):md.Capture(i+1)]))
		}
	}
	return strings.Join(out, " ")
}

// deliberate is where the engine refuses what Lua 5.1 matches, on purpose: recursion deeper
// than MaxDepth.
func deliberate(got string) bool { return got == "error: pattern too complex" }

// Every case of testdata/lua51.txt gives Lua 5.1's answer, its error messages included, except
// the deliberate refusals.
func TestFindFollowsLua51(t *testing.T) {
	cases := readCases(t)
	if len(cases) < 150 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		got := find(c.pat, c.src, c.init, nil)
		if got != c.want && !(deliberate(got) && !strings.HasPrefix(c.want, "error")) {
			t.Errorf("find(%q, %q, %d) = %s, Lua 5.1: %s", c.src, c.pat, c.init, got, c.want)
		}
	}
}

// pmDeviation names where gopher-lua's matcher answers otherwise than Lua 5.1 (each checked
// against Lua 5.1 in testdata/lua51.txt): the engine follows Lua 5.1 there, so the differential
// tests skip these. "" when pm is expected to agree.
func pmDeviation(pat string) string {
	switch {
	case strings.Contains(pat, "%f"):
		return "pm has no frontier pattern (%f is a literal f)"
	case pmSetDash(pat):
		return "pm reads a '-' next to a class or after a range in a set otherwise ([%a-z], [0-%a], [0--], [a-c-e])"
	case pmShortBalance.MatchString(pat):
		return "pm's %b with a delimiter missing does not fail"
	case strings.Contains(pat, "()") && pmBackRef.MatchString(pat):
		return "pm's back-reference to a position capture matches the empty string"
	case (len(pat)-len(strings.TrimRight(pat, "%")))%2 == 1:
		return "pm reads a '%' that ends the pattern as a class, not an error"
	case strings.Count(pat, "(") > MaxCaptures:
		return "pm has no limit on captures"
	}
	return ""
}

// pmExplains says why pm's answer differs from the engine's where the difference is one of pm's
// deviations from Lua 5.1 (by the pattern: pmDeviation; or by the answers), "" if it is not.
func pmExplains(pat, got, pmGot string) string {
	switch {
	case pmDeviation(pat) != "":
		return pmDeviation(pat)
	case pmGot == "panic":
		return "pm panics (a back-reference to a capture still open: (b)((B)%2))"
	case pmGot == "error" && !strings.HasPrefix(got, "error"):
		return "pm checks the whole pattern first; Lua 5.1 only what a match reaches ((0 fails on 1)"
	case got == "error: invalid capture index" && pmGot != "error":
		return "pm does not refuse a back-reference to a capture still open (((a)%1))"
	}
	return ""
}

// pmSetDash reports whether a set of pat has a '-' that pm reads otherwise than Lua 5.1: after
// a class (%a-z), as a range's end (0--, 0-%a) or after a range (a-c-e).
func pmSetDash(pat string) bool {
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '%':
			i++
		case '[':
			start := i + 1
			if start < len(pat) && pat[start] == '^' {
				start++
			}
			end := -1
			for k := start; end < 0; { // classEnd's walk: the first byte is never the ']'
				if k >= len(pat) {
					return false
				}
				if pat[k] == '%' {
					k++
				}
				if k++; k >= len(pat) {
					return false
				}
				if pat[k] == ']' {
					end = k
				}
			}
			body := pat[start:end]
			for p := 0; p < len(body); p++ { // matchBracketClass's walk
				switch {
				case body[p] == '%':
					if p+2 < len(body) && body[p+2] == '-' {
						return true
					}
					p++
				case p+2 < len(body) && body[p+1] == '-':
					if body[p+2] == '%' || body[p+2] == '-' || p+3 < len(body) && body[p+3] == '-' {
						return true
					}
					p += 2
				}
			}
			i = end
		}
	}
	return false
}

var (
	pmShortBalance = regexp.MustCompile(`(?s)%b.?$`)
	pmBackRef      = regexp.MustCompile(`%[1-9]`)
)

// The engine against gopher-lua's matcher on the same cases: where pm follows Lua 5.1, they
// agree; where pm does not, the case is one of pmDeviation's, and the engine gives Lua 5.1's
// answer (TestFindFollowsLua51).
func TestFindAgainstPM(t *testing.T) {
	agreed := 0
	for _, c := range readCases(t) {
		full, pmGot := find(c.pat, c.src, c.init, nil), findPM(c.pat, c.src, c.init)
		got, want := full, c.want
		if strings.HasPrefix(got, "error") {
			got = "error"
		}
		if strings.HasPrefix(want, "error") {
			want = "error"
		}
		switch {
		case got == pmGot:
			agreed++
		case pmGot == want:
			t.Errorf("find(%q, %q, %d): pm and Lua 5.1 say %s, the engine %s", c.src, c.pat, c.init, pmGot, full)
		case pmExplains(c.pat, full, pmGot) == "":
			t.Errorf("find(%q, %q, %d): pm says %s, Lua 5.1 %s: a deviation of pm's that pmExplains does not know", c.src, c.pat, c.init, pmGot, c.want)
		}
	}
	t.Logf("the engine and pm agree on %d cases", agreed)
}

// FuzzPatternFollowsPM matches any pattern against any subject with the engine and with
// gopher-lua's matcher: they agree, or the pattern uses a feature where pm deviates from Lua
// 5.1 (pmDeviation), or the engine refuses deliberately (MaxDepth, or MaxCaptures, which pm does
// not have). Either way the engine neither panics nor runs away: its step hook stops it.
func FuzzPatternFollowsPM(f *testing.F) {
	for _, c := range readCases(f) {
		f.Add(c.pat, c.src, c.init)
	}
	f.Fuzz(func(t *testing.T, pat, src string, init int) {
		if len(pat) > 64 || len(src) > 256 || strings.IndexByte(pat, 0) >= 0 {
			return // pm's recursion grows with both; a zero byte ends a Lua 5.1 pattern
		}
		steps := 0
		got := find(pat, src, init, func() error {
			if steps++; steps > 100 {
				return errors.New("runaway")
			}
			return nil
		})
		if got == "error: runaway" || got == "error: pattern too complex" || got == "error: too many captures" {
			return
		}
		pmGot := findPM(pat, src, init)
		if pmExplains(pat, got, pmGot) != "" {
			return
		}
		if strings.HasPrefix(got, "error") {
			got = "error"
		}
		if got != pmGot {
			t.Fatalf("find(%q, %q, %d): engine %s, pm %s", src, pat, init, got, pmGot)
		}
	})
}

// TestRecordLua51 writes Lua 5.1's answers into testdata/lua51.txt, with the interpreter named
// by FASTLUA_LUA51 (skipped without it).
func TestRecordLua51(t *testing.T) {
	lua51 := os.Getenv("FASTLUA_LUA51")
	if lua51 == "" {
		t.Skip("FASTLUA_LUA51 names no Lua 5.1 interpreter")
	}
	cases := readCases(t)
	var prog strings.Builder
	prog.WriteString(`local function unhex(h) return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
local function show(ok, ...)
	if not ok then return "E" .. hex(...) end
	local out = {}
	for i = 1, select("#", ...) do
		local v = select(i, ...)
		if v == nil then out[#out + 1] = "N" elseif type(v) == "number" then out[#out + 1] = "n" .. v else out[#out + 1] = "s" .. hex(v) end
	end
	return table.concat(out, " ")
end
local cases = {
`)
	for _, c := range cases {
		fmt.Fprintf(&prog, "{%q, %q, %d},\n", fmt.Sprintf("%x", c.pat), fmt.Sprintf("%x", c.src), c.init)
	}
	prog.WriteString(`}
for _, c in ipairs(cases) do print(show(pcall(string.find, unhex(c[2]), unhex(c[1]), c[3]))) end
`)
	cmd := exec.Command(lua51, "-")
	cmd.Stdin = strings.NewReader(prog.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", lua51, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(lines), len(cases))
	}
	unhex := func(h string) string {
		b := make([]byte, len(h)/2)
		for i := range b {
			v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
			b[i] = byte(v)
		}
		return string(b)
	}
	var file strings.Builder
	file.WriteString("# pattern\tsubject\tinit\tLua 5.1.5's string.find(subject, pattern, init) (see luapattern_test.go)\n")
	for i, c := range cases {
		var res []string
		switch l := lines[i]; {
		case strings.HasPrefix(l, "E"):
			res = []string{"error: " + unhex(l[1:])}
		case l == "N":
			res = []string{"nil"}
		default:
			vals := strings.Fields(l)
			for j, v := range vals {
				switch {
				case j < 2:
					res = append(res, v[1:])
				case v[0] == 'n':
					res = append(res, "()"+v[1:])
				default:
					res = append(res, strconv.Quote(unhex(v[1:])))
				}
			}
		}
		fmt.Fprintf(&file, "%s\t%s\t%d\t%s\n", strconv.Quote(c.pat), strconv.Quote(c.src), c.init, strings.Join(res, " "))
	}
	if err := os.WriteFile("testdata/lua51.txt", []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The step hook is called every CheckEvery steps, through the matches of one Matcher, and its
// error stops a backtracking match and comes back as it is; a match too small to reach
// CheckEvery steps never calls it.
func TestStepHook(t *testing.T) {
	stop := errors.New("out of time")
	calls := 0
	hook := func() error {
		if calls++; calls == 5 {
			return stop
		}
		return nil
	}
	var m Matcher
	m.Init(strings.Repeat("a", 2000), ".-.-.-b", hook, true) // about 2000^3/6 steps without the hook
	if _, _, err := m.Find(0); err != stop || calls != 5 {
		t.Fatalf("Find: %v after %d calls, want the hook's error after 5", err, calls)
	}
	calls = 0
	m.Init("key=value", "(%w+)=(%w+)", hook, true)
	if s, e, err := m.Find(0); s != 0 || e != 9 || err != nil || calls != 0 {
		t.Fatalf("Find: %d %d %v, %d calls of the hook", s, e, err, calls)
	}
	// A back-reference counts the bytes it compares: (a*)%1 against 2^17 bytes compares about
	// 2^33 of them, in about 2^18 steps of the items alone.
	calls = 0
	m.Init(strings.Repeat("a", 1<<17)+"b", "(a*)%1b", hook, true)
	if _, _, err := m.Find(0); err != stop {
		t.Fatalf("a long back-reference: %v after %d calls, want the hook's error", err, calls)
	}
}

// A panic that is not the engine's own (a bug of a hook) goes on up as it came.
func TestForeignPanicGoesOn(t *testing.T) {
	defer func() {
		if r := recover(); r != "the hook's own" {
			t.Fatalf("recovered %v", r)
		}
	}()
	var m Matcher
	m.Init(strings.Repeat("a", 100), ".-.-b", func() error { panic("the hook's own") }, true)
	m.Find(0)
	t.Fatal("no panic")
}

// Without anchor (gmatch), a leading '^' is an ordinary character, as in Lua 5.1; Find and
// MatchAt go on from any position, and the captures of the last match are read with Capture.
func TestMatcherAPI(t *testing.T) {
	var m Matcher
	m.Init("^a^a", "^a", nil, false)
	if m.Anchored() {
		t.Fatal("anchored without anchor")
	}
	if s, e, err := m.Find(1); s != 2 || e != 4 || err != nil {
		t.Fatalf("Find(1) = %d %d %v, want 2 4", s, e, err)
	}
	m.Init("k=v; x=()", "(%w)=()", nil, true)
	if e, err := m.MatchAt(5); e != 7 || err != nil || m.Captures() != 2 {
		t.Fatalf("MatchAt(5) = %d %v, %d captures", e, err, m.Captures())
	}
	if c, err := m.Capture(0, 5, 7); c != (Capture{Start: 5, End: 6}) || err != nil {
		t.Fatalf("capture 0: %+v %v", c, err)
	}
	if c, err := m.Capture(1, 5, 7); c != (Capture{Start: 7, End: 7, Position: true}) || err != nil {
		t.Fatalf("capture 1: %+v %v", c, err)
	}
	if _, err := m.Capture(2, 5, 7); err == nil || err.Error() != "invalid capture index" {
		t.Fatalf("capture 2: %v", err)
	}
	m.Init("abc", "b", nil, true)
	if e, err := m.MatchAt(1); e != 2 || err != nil {
		t.Fatalf("MatchAt(1) = %d %v", e, err)
	}
	if c, err := m.Capture(0, 1, 2); c != (Capture{Start: 1, End: 2}) || err != nil {
		t.Fatalf("the whole match: %+v %v", c, err)
	}
	m.Init("ab", "(a", nil, true)
	if _, _, err := m.Find(0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Capture(0, 0, 1); err == nil || err.Error() != "unfinished capture" {
		t.Fatalf("an unfinished capture: %v", err)
	}
	var pe *Error
	m.Init(strings.Repeat("x", MaxDepth+1), strings.Repeat("x?", MaxDepth+1), nil, true)
	if _, _, err := m.Find(0); !errors.As(err, &pe) || err.Error() != "pattern too complex" {
		t.Fatalf("recursion past MaxDepth: %v", err)
	}
}

// The engine alone: a class over a request line, captures, backtracking, a set.
func BenchmarkFind(b *testing.B) {
	for _, c := range []struct{ name, pat, src string }{
		{"class", "%d+", "GET /api/v2/db/_table/contacts?limit=10"},
		{"captures", "^/api/v(%d+)/(%w+)/_table/([%w_]+)$", "/api/v2/db/_table/contacts"},
		{"backtrack", "(.-)=(.*)", strings.Repeat("x", 64) + "=y"},
		{"set", "[%w_%-]+@[%w%-]+%.%a+", "mail joe_doe-1@example.com now"},
	} {
		b.Run(c.name, func(b *testing.B) {
			step := func() error { return nil }
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var m Matcher
				m.Init(c.src, c.pat, step, true)
				if s, _, err := m.Find(0); s < 0 || err != nil {
					b.Fatal(s, err)
				}
			}
		})
	}
}
