package modules

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

var (
	diffPatterns = []string{`^a`, `(?m)^\w`, `\bx`, `\B.`, `\Aa|b`, `a*`, `x*`, `(a)|b`, ``, `.`,
		`(?s).`, `é|.`, `\w+$`, `(?i)A`, `(a*)+`, `$`, `(?m)$`, `^`, `(?m)^`, `\b`, `\B`, `(?U)a+`,
		`(?P<w>\w)(\s*)`, `^$`, `(?m)^$`, `a|^b`, `\b\w`, `[^a]*`}
	diffSubjects = []string{"", "a", "aaa", "baaac", "a\na\nb\n", "foo bar", "héllo wörld",
		"\xff\xfea\xe2\x82", "x y  z", "\n\n", "ab ba bb"}
)

// TestReFollowsGo compares the successive matches of re.find_all, gsub and split with Go's
// FindAll, ReplaceAll and Split, for patterns that look back (where the iteration searches on
// from the rune before) and patterns that do not.
func TestReFollowsGo(t *testing.T) {
	L := newState(t, Options{})
	for _, pat := range diffPatterns {
		for _, s := range diffSubjects {
			compareWithGo(t, L, pat, s)
		}
	}
}

// FuzzReFollowsGo is TestReFollowsGo on any pattern and subject.
func FuzzReFollowsGo(f *testing.F) {
	for _, pat := range diffPatterns {
		f.Add(pat, diffSubjects[len(pat)%len(diffSubjects)])
	}
	L := lua.NewState()
	for name, tb := range Open(L, Options{}) {
		L.SetGlobal(name, tb)
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 64 || len(s) > 256 {
			return
		}
		if _, err := regexp.Compile(pat); err != nil {
			return
		}
		compareWithGo(t, L, pat, s)
	})
}

func compareWithGo(t *testing.T, L *lua.LState, pat, s string) {
	t.Helper()
	goRe := regexp.MustCompile(pat)
	L.SetGlobal("S", lua.LString(s))
	L.SetGlobal("P", lua.LString(pat))

	// The iteration itself, on the compiled pattern.
	a := args{L: L, m: &lib{o: Options{MaxString: DefaultMaxString}}, name: "test"}
	L.Push(lua.LString(pat))
	cp := a.pattern(L.GetTop(), len(s))
	L.Pop(1)
	var got [][]int
	a.each(cp, s, -1, func(loc []int) bool { got = append(got, slices.Clone(loc)); return true })
	want := goRe.FindAllStringSubmatchIndex(s, -1)
	if !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Errorf("matches of %q in %q: got %v, want %v", pat, s, got, want)
	}

	for _, tpl := range []string{"<$0>", "[${1}]", "$w.", "$$", "-"} {
		L.SetGlobal("T", lua.LString(tpl))
		out, err := run(L, `return (re.gsub(S, P, T))`)
		if err != nil {
			t.Errorf("re.gsub(%q, %q, %q): %v", s, pat, tpl, err)
			continue
		}
		if want := show(lua.LString(goRe.ReplaceAllString(s, tpl))); out != want {
			t.Errorf("re.gsub(%q, %q, %q): got %s, want %s", s, pat, tpl, out, want)
		}
	}

	for _, n := range []int{-1, 0, 1, 2} {
		L.SetGlobal("N", lua.LNumber(n))
		out, err := run(L, `return re.split(S, P, N)`)
		if err != nil {
			t.Errorf("re.split(%q, %q, %d): %v", s, pat, n, err)
			continue
		}
		var parts []string
		for _, piece := range goRe.Split(s, n) {
			parts = append(parts, show(lua.LString(piece)))
		}
		if want := "{" + strings.Join(parts, ", ") + "}"; out != want {
			t.Errorf("re.split(%q, %q, %d): got %s, want %s", s, pat, n, out, want)
		}
	}
}

func TestReErrors(t *testing.T) {
	runCases(t, Options{}, []luaCase{
		{`return re.match("abc")`, "bad argument #2 to re.match (string expected, got no value)", true},
		{`return re.match(nil, "a")`, "bad argument #1 to re.match (string expected, got nil)", true},
		{`return re.match("abc", "(")`, "bad argument #2 to re.match (error parsing regexp: missing closing ): `(`)", true},
		{`return re.find("abc", "a", "2")`, "bad argument #3 to re.find (number expected, got string)", true},
		{`return re.find("abc", "a", 1.5)`, "bad argument #3 to re.find (integer expected, got 1.5)", true},
		{`return re.find("abc", "(", 10)`, "bad argument #2 to re.find (error parsing regexp", true}, // checked even past the end
		{`return re.gsub("abc", "a")`, "bad argument #3 to re.gsub (string, table or function expected, got no value)", true},
		{`return re.gsub("abc", "a", true)`, "bad argument #3 to re.gsub (string, table or function expected, got boolean)", true},
		{`return re.gsub("abc", "a", function() return true end)`, "re.gsub: invalid replacement value (a boolean true)", true},
		{`return re.gsub("abc", "a", function() return {} end)`, "re.gsub: invalid replacement value (a table)", true},
		{`return re.gsub("abc", "a", {a = {}})`, "re.gsub: invalid replacement value (a table)", true},
		{`return re.gsub("abc", "a", function() error("inner") end)`, "inner", true},
		{`return re.split("abc", "b", "x")`, "bad argument #3 to re.split (number expected, got string)", true},
		{`return re.find_all("abc", "[")`, "bad argument #2 to re.find_all (error parsing regexp: missing closing ]: `[`)", true},
		{`return re.gmatch({}, "a")`, "bad argument #1 to re.gmatch (string expected, got table)", true},
		{`return re.match(string.rep("a", 40000), string.rep("a", 1000))`, "re.match: a subject of 40000 bytes and a pattern of 1002 instructions could take 40081002 steps, more than the limit of 33554432 (bytes times instructions): match a shorter string or a simpler pattern", true},
		{`return #re.match(string.rep("a", 33000), string.rep("a", 1000))`, "1000", false},
	})
}

// TestReStepsBoundTheTime runs the largest match MaxSteps allows with a pattern that makes Go's
// NFA do the most work per byte (one that took 45 s on a 4 MiB subject), and checks that it
// takes well under the default time limit of a run, one second. (A loose bound on purpose: it is
// there to catch a MaxSteps raised by orders of magnitude, not to time the machine.)
func TestReStepsBoundTheTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a slow match")
	}
	L := newState(t, Options{})
	// [a-z]{1000}b compiles to 1003 instructions: the subject can be 33,453 bytes.
	src := `local s = string.rep("a", 33000) return re.find(s, "[a-z]{1000}b")`
	start := time.Now()
	got, err := run(L, src)
	if err != nil || got != "nil" {
		t.Fatalf("%s: %s, %v", src, got, err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the largest match took %v", d)
	}
	t.Logf("the largest match allowed took %v", time.Since(start))
}

// stopAfter is a context whose Err reports it was canceled after n calls; Done never fires, so
// only the checks of re's iterations see it.
type stopAfter struct {
	context.Context
	n int
}

func (c *stopAfter) Done() <-chan struct{} { return nil }
func (c *stopAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestReIterationsCheckTheContext checks that gsub, find_all and split stop between two matches
// when the state's context is done (the sandbox's time limit).
func TestReIterationsCheckTheContext(t *testing.T) {
	for _, src := range []string{
		`return re.gsub(string.rep("a", 1000), "a", "b")`,
		`return re.find_all(string.rep("a", 1000), "a")`,
		`return re.split(string.rep("a", 1000), "a")`,
	} {
		L := newState(t, Options{})
		L.SetContext(&stopAfter{Context: context.Background(), n: 3})
		_, err := run(L, src)
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("%s: %v, want the context's error", src, err)
		}
	}
}

// TestEstimateSizeIsAnUpperBound checks the estimate that refuses a pattern before it is
// compiled against the compiled size.
func TestEstimateSizeIsAnUpperBound(t *testing.T) {
	for _, pat := range append(slices.Clone(diffPatterns), `a{2,5}`, `(ab){3,}`, `[a-z]{1000}`,
		`(?:x|yz|[0-9]+){0,7}`, `(?i)hello|world`, `(a(b(c)?)*)+`, `\d{3}-\d{4}`, `.{10,20}?`, `x{0}`) {
		tree, err := syntax.Parse(pat, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := syntax.Compile(tree.Simplify())
		if err != nil {
			t.Fatal(err)
		}
		if est := estimateSize(tree) + 2; est < len(prog.Inst) {
			t.Errorf("%q: estimated %d instructions, compiles to %d", pat, est, len(prog.Inst))
		}
	}
}

// TestPatternCacheShared compiles and uses the same patterns from several states at once (run
// with -race).
func TestPatternCacheShared(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			L := lua.NewState()
			defer L.Close()
			for name, tb := range Open(L, Options{}) {
				L.SetGlobal(name, tb)
			}
			for i := 0; i < 200; i++ {
				got, err := run(L, fmt.Sprintf(`return re.gsub("a b  c", "\\s+(\\w)%d?", "-$1"), re.find_all("x1 y2", "\\b(\\w)(\\d)")[2][1]`, i%7))
				if err != nil || got != `"a-b-c", "y"` {
					t.Errorf("got %s, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkReMatchCached(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	match := Open(L, Options{})["re"].RawGetString("match")
	s := lua.LString("contact: jane.doe@example.com, since 2019")
	pat := lua.LString(`(\w+)@(\w+)\.com`)
	b.ReportAllocs()
	for b.Loop() {
		L.Push(match)
		L.Push(s)
		L.Push(pat)
		L.Call(2, 2)
		L.Pop(2)
	}
}

// TestReIterationsCallStep checks that gsub, find_all and split call Options.Step before each
// match and stop with its error.
func TestReIterationsCallStep(t *testing.T) {
	for _, src := range []string{
		`return re.gsub(string.rep("a", 1000), "a", "b")`,
		`return re.find_all(string.rep("a", 1000), "a")`,
		`return re.split(string.rep("a", 1000), "a")`,
	} {
		calls := 0
		L := newState(t, Options{Step: func() error {
			if calls++; calls > 3 {
				return errors.New("out of time")
			}
			return nil
		}})
		_, err := run(L, src)
		if err == nil || !strings.Contains(err.Error(), "out of time") || calls != 4 {
			t.Errorf("%s: %v after %d calls, want the hook's error after 4", src, err, calls)
		}
	}
}
