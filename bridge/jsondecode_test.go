package bridge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func TestJSONSyntaxErrors(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	cases := []struct {
		in     string
		offset int
	}{
		{``, 0},
		{`{`, 1},
		{`{"a" 1}`, 5},
		{`{"a":1,}`, 7},
		{`[1,2`, 4},
		{`[01]`, 1},
		{`"abc`, 4},
		{`tru`, 0},
		{`{"a":1} x`, 8},
		{`"\x"`, 2},
		{"\"a\x01\"", 2},
		{`-`, 1},
		{`1.`, 2},
		{strings.Repeat("[", maxJSONDepth+1), maxJSONDepth},
	}
	for _, c := range cases {
		_, err := DecodeJSON(L, []byte(c.in))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("DecodeJSON(%q) err = %v, want a *SyntaxError", c.in, err)
			continue
		}
		if se.Offset != c.offset {
			t.Errorf("DecodeJSON(%q): offset %d, want %d (%v)", c.in, se.Offset, c.offset, err)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	doc := []byte(sampleDoc)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJSON(L, doc); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatArray is a JSON array of n copies of elem.
func repeatArray(elem string, n int) []byte {
	return []byte("[" + strings.Repeat(elem+",", n-1) + elem + "]")
}

// Decoding has a memory budget proportional to its text (issue 13, red-team F1): a text of tiny
// containers, which builds 37 to 93 times its length in Lua tables, fails with an error naming
// the limit and its Config field, before it has built more than the budget; a typical document
// of the same size decodes.
func TestJSONDecodeMemoryBudget(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	const size = 1 << 20
	for _, elem := range []string{`{}`, `[]`, `{"a":1}`, `[1]`, `{"x":[{},{}]}`} {
		doc := repeatArray(elem, size/(len(elem)+1))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeJSON(L, doc)
		runtime.ReadMemStats(&after)
		var me *memoryError
		if !errors.As(err, &me) {
			t.Errorf("decoding %d bytes of %s: err = %v, want a *memoryError", len(doc), elem, err)
			continue
		}
		budget := DefaultJSONExpansion * len(doc)
		if me.Budget != budget || me.Text != len(doc) || !strings.Contains(err.Error(), "Config.MaxJSONExpansion") || !strings.Contains(err.Error(), strconv.Itoa(budget)) {
			t.Errorf("decoding %s: %v, want the budget %d and its Config field named", elem, err, budget)
		}
		// Checked before allocation: what was allocated is the budget and the garbage of
		// growing the outer array (copies of its slots), not the whole document's tables.
		if grown := after.TotalAlloc - before.TotalAlloc; grown > uint64(2*budget) {
			t.Errorf("decoding %s allocated %d MiB before failing, budget %d MiB", elem, grown>>20, budget>>20)
		}
	}
	// Typical documents of the same size decode, and so do short texts of tiny containers.
	records := sampleDoc[len(`{"resource":[`):strings.Index(sampleDoc, `],"meta"`)]
	for _, doc := range [][]byte{repeatArray(records, size/len(records)), repeatArray(`[1.5,-2.25]`, size/12), repeatArray(`"some text"`, size/12), repeatArray(`{}`, 100)} {
		if _, err := DecodeJSON(L, doc); err != nil {
			t.Errorf("decoding %d bytes of %.20s: %v", len(doc), doc, err)
		}
	}
	// The budget follows Interner.Expansion (Config.MaxJSONExpansion).
	doc := repeatArray(`{}`, size/3)
	if _, err := decodeJSONInterned(L, doc, &Interner{Expansion: 64}); err != nil {
		t.Errorf("with an expansion of 64: %v", err)
	}
	if _, err := decodeJSONInterned(L, repeatArray(records, size/len(records)), &Interner{Expansion: 4}); !errors.As(err, new(*memoryError)) || !strings.Contains(err.Error(), "4 times") {
		t.Errorf("records with an expansion of 4: %v, want a *memoryError", err)
	}
}

// The costs the budget charges are close to what decoding really allocates (the live heap it
// leaves), for containers large and small: they are the budget's meaning.
func TestJSONDecodeCostModel(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("measures the heap")
	}
	L := lua.NewState()
	defer L.Close()
	object := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `,"k%d":%d`, i, i)
		}
		return "{" + b.String()[1:] + "}"
	}
	for _, elem := range []string{`{}`, `[]`, `{"a":1}`, `{"x":1,"y":2}`, `[1]`, `[1,2,3,4,5]`, `[0.5,1.5]`,
		`{"id":12345,"name":"Alice Smith","email":"alice@example.com","active":true}`,
		object(9), object(12), sampleDoc, object(100), object(1000)} {
		n := max(200, 400000/len(elem))
		doc := repeatArray(elem, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d := decoder{data: doc, budget: math.MaxInt}
		v, err := d.value(L, 0)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		live := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		charged := float64(math.MaxInt - d.budget)
		if r := charged / live; r < 0.75 || r > 1.5 {
			t.Errorf("%.30s: charged %.0f bytes a copy, the heap grew by %.0f (%.2f times)", elem, charged/float64(n), live/float64(n), r)
		}
		runtime.KeepAlive(v)
	}
}

// A decode calls Interner.Check each time it has charged another MiB, and stops with its error
// (the run's time limit or memory guard); without a Check, L's context is looked at instead.
func TestJSONDecodeCheck(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	doc := repeatArray(`{"id":12345,"name":"Alice Smith"}`, (8<<20)/35) // about 100 MiB of values
	stop := errors.New("stopped")
	calls := 0
	in := &Interner{Expansion: 1000, Check: func() error {
		if calls++; calls == 3 {
			return stop
		}
		return nil
	}}
	if _, err := decodeJSONInterned(L, doc, in); !errors.Is(err, stop) || calls != 3 {
		t.Errorf("err = %v after %d checks, want the check's error at the third", err, calls)
	}
	calls = 0
	if _, err := decodeJSONInterned(L, []byte(sampleDoc), in); err != nil || calls != 0 {
		t.Errorf("a small document: %v, %d checks, want none", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	if _, err := decodeJSONInterned(L, doc, &Interner{Expansion: 1000}); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: %v", err)
	}
}
