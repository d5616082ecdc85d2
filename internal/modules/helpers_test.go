package modules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// fixedClock is the clock of the tests: 2026-05-01T12:34:56.789012Z.
var fixedClock = time.Date(2026, 5, 1, 12, 34, 56, 789012000, time.UTC)

// newState returns a Lua state with the modules as globals, and check(got, want, what), which
// reports a difference as a test error at the script's line.
func newState(t testing.TB, o Options) *lua.LState {
	L := lua.NewState()
	t.Cleanup(L.Close)
	for name, tb := range Open(L, o) {
		L.SetGlobal(name, tb)
	}
	L.SetGlobal("check", L.NewFunction(func(L *lua.LState) int {
		got, want := show(L.Get(1)), show(L.Get(2))
		if got != want {
			where := ""
			if dbg, ok := L.GetStack(1); ok {
				if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil {
					where = fmt.Sprintf("%s:%d: ", dbg.Source, dbg.CurrentLine)
				}
			}
			t.Errorf("%s%s: got %s, want %s", where, L.OptString(3, ""), got, want)
		}
		return 0
	}))
	return L
}

// run runs src and returns its results, shown and joined with ", ".
func run(L *lua.LState, src string) (string, error) {
	top := L.GetTop()
	defer L.SetTop(top)
	fn, err := L.LoadString(src)
	if err != nil {
		return "", err
	}
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		return "", err
	}
	var out []string
	for i := top + 1; i <= L.GetTop(); i++ {
		out = append(out, show(L.Get(i)))
	}
	return strings.Join(out, ", "), nil
}

// show writes a value for comparison: strings quoted, tables as {list..., key=value} with the
// keys sorted.
func show(v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return strconv.Quote(string(v))
	case *lua.LTable:
		var parts []string
		n := v.Len()
		for i := 1; i <= n; i++ {
			parts = append(parts, show(v.RawGetInt(i)))
		}
		var keys []string
		vals := map[string]string{}
		v.ForEach(func(k, val lua.LValue) {
			if num, ok := k.(lua.LNumber); ok && float64(num) == float64(int(num)) && int(num) >= 1 && int(num) <= n {
				return
			}
			ks := lua.LVAsString(k)
			if _, ok := k.(lua.LString); !ok {
				ks = "[" + k.String() + "]"
			}
			keys = append(keys, ks)
			vals[ks] = show(val)
		})
		slices.Sort(keys)
		for _, k := range keys {
			parts = append(parts, k+"="+vals[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return v.String()
}

type luaCase struct {
	src  string
	want string // the results, shown; or, with err, a part of the error message
	err  bool
}

// runCases runs each case's snippet on one state.
func runCases(t *testing.T, o Options, cases []luaCase) {
	t.Helper()
	L := newState(t, o)
	for _, c := range cases {
		got, err := run(L, c.src)
		switch {
		case c.err && err == nil:
			t.Errorf("%s\n\tran without error, returned %s; want an error with %q", c.src, got, c.want)
		case c.err && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s\n\terror %q\n\twant it to contain %q", c.src, err.Error(), c.want)
		case !c.err && err != nil:
			t.Errorf("%s\n\terror: %v", c.src, err)
		case !c.err && got != c.want:
			t.Errorf("%s\n\tgot  %s\n\twant %s", c.src, got, c.want)
		}
	}
}

// TestVectors runs the known-vector scripts in testdata, one per module.
func TestVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			L := newState(t, Options{Now: func() time.Time { return fixedClock }})
			fn, err := L.Load(bytes.NewReader(src), filepath.Base(file))
			if err != nil {
				t.Fatal(err)
			}
			L.Push(fn)
			if err := L.PCall(0, 0, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}
