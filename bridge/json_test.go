package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func decode(t *testing.T, L *lua.LState, s string) lua.LValue {
	t.Helper()
	v, err := DecodeJSON(L, []byte(s))
	if err != nil {
		t.Fatalf("DecodeJSON(%s): %v", s, err)
	}
	return v
}

func TestJSONRoundTrip(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	var enc Encoder
	cases := []struct{ in, out string }{
		{`{"a":1,"b":[1,2,3],"c":{"d":null}}`, `{"a":1,"b":[1,2,3],"c":{"d":null}}`},
		{` { "z" : true , "a" : false } `, `{"a":false,"z":true}`}, // keys sorted, space dropped
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`{"list":[],"obj":{}}`, `{"list":[],"obj":{}}`},
		{`[[],[[]],{}]`, `[[],[[]],{}]`},
		{`"h\u00e9llo \ud83d\ude00 \"q\" \\ \/ \n\t"`, `"héllo 😀 \"q\" \\ / \n\t"`},
		{`"\u0001\u001f"`, `"\u0001\u001f"`},
		{`[1.5,-0.25,1e3,2E-2,0,-0]`, `[1.5,-0.25,1000,0.02,0,0]`},
		{`9007199254740993`, `9007199254740992`}, // beyond 2^53: the nearest float64
		{`12345678901234567890`, `12345678901234567000`},
		{`1e300`, `1e+300`},
		{`[null,null]`, `[null,null]`},
		{`"\ud800"`, `"�"`}, // a lone surrogate becomes U+FFFD
		// Invalid UTF-8 decodes as U+FFFD, a byte each, as encoding/json does; keys too, so
		// two keys that differ only there are one key (the last wins), never a duplicate name.
		{"\"a\xffb\xe2\x82\"", `"a�b��"`},
		{"\"\\n\xff\"", `"\n�"`},
		{"{\"\x8b\":0,\"\x87\":1}", `{"�":1}`},
	}
	for _, c := range cases {
		v := decode(t, L, c.in)
		out, err := enc.Encode(v)
		if err != nil {
			t.Errorf("Encode(%s): %v", c.in, err)
			continue
		}
		if string(out) != c.out {
			t.Errorf("round trip of %s = %s, want %s", c.in, out, c.out)
		}
		// A document with a duplicate name is not equal to its decoding (which has one).
		if dup := strings.Count(c.in, ":") > strings.Count(string(out), ":"); EqualJSON(v, []byte(c.in)) == dup {
			t.Errorf("EqualJSON(decode(%s), itself) = %v", c.in, dup)
		}
	}
}

func TestJSONEncodeLuaValues(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	var enc Encoder
	run := func(src string) lua.LValue {
		t.Helper()
		if err := L.DoString("v = " + src); err != nil {
			t.Fatal(err)
		}
		return L.GetGlobal("v")
	}
	L.SetGlobal("null", Null)
	L.SetGlobal("empty_array", EmptyArray)
	arr := L.CreateTable(0, 0)
	arr.Metatable = ArrayMeta
	L.SetGlobal("marked", arr)
	cases := []struct{ src, out string }{
		{`{1, 2, 3}`, `[1,2,3]`},
		{`{}`, `{}`},
		{`empty_array`, `[]`},
		{`marked`, `[]`},
		{`{a = empty_array, b = null}`, `{"a":[],"b":null}`},
		{`{[1] = "a", [3] = "c"}`, `{"1":"a","3":"c"}`}, // sparse: an object
		{`{[1.5] = "x"}`, `{"1.5":"x"}`},
		{`{1, 2, x = 3}`, `{"1":1,"2":2,"x":3}`},
		{`"\255"`, `"�"`},
		{`123456789012`, `123456789012`},
		{`0.1`, `0.1`},
	}
	for _, c := range cases {
		out, err := enc.Encode(run(c.src))
		if err != nil || string(out) != c.out {
			t.Errorf("Encode(%s) = %s, %v; want %s", c.src, out, err, c.out)
		}
	}
	for _, src := range []string{`function() end`, `{f = print}`, `0/0`, `1/0`, `{[true] = 1}`} {
		var ee *EncodeError
		if _, err := enc.Encode(run(src)); !errors.As(err, &ee) {
			t.Errorf("Encode(%s): err = %v, want an *EncodeError", src, err)
		}
	}
	// A table that contains itself is an error, not a stack overflow.
	if err := L.DoString(`cyc = {}; cyc.self = cyc`); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(L.GetGlobal("cyc")); err == nil || !strings.Contains(err.Error(), "contains itself") {
		t.Errorf("cycle: %v", err)
	}
}

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
		{strings.Repeat("[", MaxJSONDepth+1), MaxJSONDepth},
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

func TestEqualJSONFindsChanges(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	doc := `{"a":1,"b":[1,2],"c":{"d":"x"},"e":null,"f":[]}`
	changes := []string{
		`v.a = 2`, `v.a = "1"`, `v.b[3] = 3`, `v.b[2] = nil`, `v.c.d = "y"`, `v.c.z = 1`,
		`v.e = nil`, `v.e = false`, `v.f[1] = 1`, `v.new = 1`, `v.b = {1, 2, x = 1}`,
	}
	for _, change := range changes {
		v := decode(t, L, doc)
		L.SetGlobal("v", v)
		if err := L.DoString(change); err != nil {
			t.Fatal(err)
		}
		if EqualJSON(v, []byte(doc)) {
			t.Errorf("EqualJSON did not see %q", change)
		}
	}
	v := decode(t, L, doc)
	L.SetGlobal("v", v)
	if err := L.DoString(`local x = v.a; v.a = 5; v.a = x; v.tmp = 1; v.tmp = nil`); err != nil {
		t.Fatal(err)
	}
	if !EqualJSON(v, []byte(doc)) {
		t.Error("a change undone counts as a change")
	}
	if EqualJSON(v, []byte(`{"a":1`)) || EqualJSON(lua.LNil, []byte(`null`)) {
		t.Error("EqualJSON accepted malformed data or nil for null")
	}
	// Duplicate keys decode to the last value; the table is not equal to the document, which
	// at worst rewrites such a body in its normal form.
	dup := decode(t, L, `{"a":1,"a":2}`)
	if EqualJSON(dup, []byte(`{"a":1,"a":2}`)) {
		t.Error("duplicate keys compared equal")
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

func BenchmarkEqualJSON(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	doc := []byte(sampleDoc)
	v, _ := DecodeJSON(L, doc)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if !EqualJSON(v, doc) {
			b.Fatal("not equal")
		}
	}
}

func BenchmarkEncodeJSON(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	v, _ := DecodeJSON(L, []byte(sampleDoc))
	var enc Encoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

// sampleDoc is about 1 KB of typical API JSON.
const sampleDoc = `{"resource":[{"id":1,"name":"Ada Lovelace","email":"ada@example.com","active":true,"score":98.5,"tags":["math","poetry"],"address":{"city":"London","zip":"W1"}},{"id":2,"name":"Alan Turing","email":"alan@example.com","active":false,"score":87.25,"tags":["crypto"],"address":{"city":"Wilmslow","zip":"SK9"}},{"id":3,"name":"Grace Hopper","email":"grace@example.com","active":true,"score":91,"tags":["cobol","navy"],"address":{"city":"New York","zip":"10001"}},{"id":4,"name":"Edsger Dijkstra","email":"ewd@example.com","active":true,"score":99.9,"tags":["algorithms"],"address":{"city":"Austin","zip":"78701"}},{"id":5,"name":"Barbara Liskov","email":"liskov@example.com","active":true,"score":95,"tags":["abstraction","distributed"],"address":{"city":"Cambridge","zip":"02139"}}],"meta":{"count":5,"next":null}}`

// largeArrays sets gopher-lua's MaxArrayIndex to what fastlua.New sets (2^20) for one test:
// integer keys from there on live in a table's hash part. Under the race detector, which has
// nothing to check in these single-goroutine tests, it is 2^12: the same boundary, crossed
// with arrays 256 times shorter. The tests size their arrays from what it returns.
func largeArrays(tb testing.TB) int {
	old := lua.MaxArrayIndex
	lua.MaxArrayIndex = 1 << 20
	if raceEnabled {
		lua.MaxArrayIndex = 1 << 12
	}
	tb.Cleanup(func() { lua.MaxArrayIndex = old })
	return lua.MaxArrayIndex
}

// arrayText is the JSON text of an array of n elements, in the encoder's normal form, whose
// elements are chosen by seed: numbers, strings, null, booleans, and small nested arrays and
// objects (empty ones too).
func arrayText(n int, seed []byte) []byte { return arrayTextChanged(n, seed, 0) }

// arrayTextChanged is arrayText with element changed (if not 0) the string "changed".
func arrayTextChanged(n int, seed []byte, changed int) []byte {
	if len(seed) == 0 {
		seed = []byte{0}
	}
	b := make([]byte, 0, n*8)
	b = append(b, '[')
	for i := 1; i <= n; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		if i == changed {
			b = append(b, `"changed"`...)
			continue
		}
		switch seed[i%len(seed)] % 8 {
		case 0, 1, 2:
			b = strconv.AppendInt(b, int64(i), 10)
		case 3:
			b = append(b, `"s`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, '"')
		case 4:
			b = append(b, "null"...)
		case 5:
			b = append(b, "true"...)
		case 6:
			b = append(b, `[[],{},-0.5]`...)
		case 7:
			b = append(b, `{"a":[1],"b":false}`...)
		}
	}
	return append(b, ']')
}

// Arrays longer than MaxArrayIndex keep their tail in the table's hash part: they are still
// arrays to EqualJSON and the encoder, so an unchanged one is equal to its text and encodes
// to it, and one with an element changed (in either part) encodes as an array of the same
// length with that element changed. (FuzzJSONArrayBoundary covers the lengths around 2^20.)
func TestJSONLargeArrays(t *testing.T) {
	max := largeArrays(t)
	L := lua.NewState()
	defer L.Close()
	var enc Encoder
	n := max + max/10 // about 1.15M elements, like the 1.1M
	text := arrayText(n, []byte{0})
	v := decode(t, L, string(text))
	tb := v.(*lua.LTable)
	if !EqualJSON(v, text) || tableLen(tb) != n {
		t.Fatalf("EqualJSON(decode(text), text) = %v, tableLen = %d", EqualJSON(v, text), tableLen(tb))
	}
	if out, err := enc.Encode(v); err != nil || !bytes.Equal(out, text) {
		t.Fatalf("decode then encode is not the identity (%v): %.40s...%s", err, out, out[len(out)-min(40, len(out)):])
	}
	for _, i := range []int{1, max - 1, max, n} {
		// As a script changes it: t[i] = v, then back.
		old := L.GetTable(tb, lua.LNumber(i))
		L.SetTable(tb, lua.LNumber(i), lua.LString("changed"))
		if EqualJSON(v, text) {
			t.Errorf("EqualJSON did not see element %d change", i)
		}
		if out, err := enc.Encode(v); err != nil || !bytes.Equal(out, arrayTextChanged(n, []byte{0}, i)) {
			t.Fatalf("element %d changed: not an array of %d with it changed (%v): %.60s", i, n, err, out)
		}
		L.SetTable(tb, lua.LNumber(i), old)
	}
	if !EqualJSON(v, text) {
		t.Fatal("elements changed back still count as a change")
	}
}

// A list built with table.insert (LTable.Append) keeps all of its elements in the array part,
// even past MaxArrayIndex, where t[i] and Next do not look: it encodes as the whole array, and
// as an object with every key once it also has string keys.
func TestJSONArrayBuiltPastMaxArrayIndex(t *testing.T) {
	max := largeArrays(t)
	L := lua.NewState()
	defer L.Close()
	n := max + 5
	tb := L.CreateTable(0, 0)
	for i := 1; i <= n; i++ {
		tb.Append(lua.LNumber(i)) // table.insert(t, i)
	}
	var enc Encoder
	out, err := enc.Encode(tb)
	if err != nil || !bytes.Equal(out, arrayText(n, []byte{0})) {
		t.Fatalf("a list of %d built with table.insert: %v %.40s", n, err, out)
	}
	if !EqualJSON(tb, out) || tableLen(tb) != n {
		t.Fatalf("EqualJSON = %v, tableLen = %d", EqualJSON(tb, out), tableLen(tb))
	}
	tb.RawSetString("x", lua.LTrue)
	tb.RawSetString("y", lua.LFalse)
	if tableLen(tb) != n+2 {
		t.Fatalf("with two string keys: tableLen = %d, want %d", tableLen(tb), n+2)
	}
	out, err = enc.Encode(tb)
	if err != nil {
		t.Fatal(err)
	}
	last := fmt.Sprintf(`"%d":%d`, n, n)
	if !bytes.HasPrefix(out, []byte(`{"1":1,"10":10,`)) || bytes.Count(out, []byte(":")) != n+2 ||
		!bytes.Contains(out, []byte(`"x":true,"y":false}`)) || !bytes.Contains(out, []byte(last)) {
		t.Fatalf("with two string keys: not an object of the %d keys: %.40s...%s", n+2, out, out[len(out)-40:])
	}
}

// table.insert on a decoded array longer than MaxArrayIndex-1 appends to the array part at
// MaxArrayIndex (# stops at MaxArrayIndex-1), where the hash part already holds an element: that
// table has no JSON form, and it is an error, not an element silently lost.
func TestJSONArrayElementHeldTwice(t *testing.T) {
	max := largeArrays(t)
	L := lua.NewState()
	defer L.Close()
	text := arrayText(max+5, []byte{0})
	tb := decode(t, L, string(text)).(*lua.LTable)
	tb.Append(lua.LString("appended")) // table.insert(t, "appended")
	if EqualJSON(tb, text) || EqualJSON(tb, arrayText(max+6, []byte{0})) {
		t.Error("EqualJSON: a table holding an element twice equals an array")
	}
	var enc Encoder
	_, err := enc.Encode(tb)
	var ee *EncodeError
	if !errors.As(err, &ee) || !strings.Contains(ee.Msg, "table.insert on an array longer than "+strconv.Itoa(max-1)) {
		t.Fatalf("Encode: %v", err)
	}
}

// Decoding then encoding an array whose length is around MaxArrayIndex, of any elements, is the
// identity, and EqualJSON, tableLen and the encoder agree that it is an array.
func FuzzJSONArrayBoundary(f *testing.F) {
	max := largeArrays(f)
	mostlyNumbers := func(kinds ...byte) []byte { return append(make([]byte, 24), kinds...) }
	f.Add(int8(-1), []byte{0})
	f.Add(int8(0), mostlyNumbers(3, 4, 5))
	f.Add(int8(1), mostlyNumbers(6, 7, 5, 3))
	f.Add(int8(2), mostlyNumbers(7, 4, 6))
	L := lua.NewState()
	defer L.Close()
	var enc Encoder
	f.Fuzz(func(t *testing.T, delta int8, seed []byte) {
		n := max + int(delta)%4
		text := arrayText(n, seed)
		v, err := DecodeJSON(L, text)
		if err != nil {
			t.Fatal(err)
		}
		if !EqualJSON(v, text) || tableLen(v.(*lua.LTable)) != n {
			t.Fatalf("n=%d: EqualJSON %v, tableLen %d", n, EqualJSON(v, text), tableLen(v.(*lua.LTable)))
		}
		out, err := enc.Encode(v)
		if err != nil || !bytes.Equal(out, text) {
			t.Fatalf("n=%d: decode then encode is not the identity (%v)", n, err)
		}
	})
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
		var me *MemoryError
		if !errors.As(err, &me) {
			t.Errorf("decoding %d bytes of %s: err = %v, want a *MemoryError", len(doc), elem, err)
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
	// The budget follows Interner.Expansion (Config.MaxJSONExpansion), and DecodeJSONWithin's.
	doc := repeatArray(`{}`, size/3)
	if _, err := DecodeJSONInterned(L, doc, &Interner{Expansion: 64}); err != nil {
		t.Errorf("with an expansion of 64: %v", err)
	}
	if _, err := DecodeJSONWithin(L, doc, 64); err != nil {
		t.Errorf("DecodeJSONWithin 64: %v", err)
	}
	if _, err := DecodeJSONWithin(L, repeatArray(records, size/len(records)), 4); !errors.As(err, new(*MemoryError)) || !strings.Contains(err.Error(), "4 times") {
		t.Errorf("records with an expansion of 4: %v, want a *MemoryError", err)
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

// Encoder.Max is checked against the exact escaped length of each string before it is written
// (a control character takes six bytes), keys included: the buffer never grows past it.
func TestJSONEncoderMaxCountsEscapes(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	ctl := lua.LString(strings.Repeat("\x01", 200)) // 1202 bytes of JSON
	key := L.NewTable()
	key.RawSetString(string(ctl), lua.LNumber(1))
	twice := L.NewTable()
	twice.RawSetInt(1, lua.LString(strings.Repeat("\x01", 100)))
	twice.RawSetInt(2, lua.LString(strings.Repeat("\x01", 100)))
	for _, c := range []struct {
		what string
		v    lua.LValue
	}{{"a string", ctl}, {"a key", key}, {"two strings", twice}} {
		enc := Encoder{Max: 1000}
		_, err := enc.Encode(c.v)
		var ee *EncodeError
		if !errors.As(err, &ee) || ee.Limit != 1000 || !strings.Contains(err.Error(), "Config.MaxJSONSize") {
			t.Errorf("%s of control characters: err = %v, want the limit named", c.what, err)
		}
		if cap(enc.buf) > 1000 {
			t.Errorf("%s of control characters: the buffer grew to %d bytes, past the limit", c.what, cap(enc.buf))
		}
	}
	// Exactly at the limit is within it; MaxName names another setting.
	enc := Encoder{Max: 1202, MaxName: "Config.MaxStoreValue"}
	if b, err := enc.Encode(ctl); err != nil || len(b) != 1202 {
		t.Errorf("at the limit: %d bytes, %v", len(b), err)
	}
	enc.Max = 1201
	if _, err := enc.Encode(ctl); err == nil || !strings.Contains(err.Error(), "Config.MaxStoreValue") {
		t.Errorf("one byte past the limit: %v, want Config.MaxStoreValue named", err)
	}
}

// Nothing one large document brought is kept for the next (issue 13, red-team F8): the
// Encoder drops buffers grown past maxPooledBuf and maxPooledKeys, and the Interner does not
// keep keys longer than internKeyLen.
func TestJSONBuffersDoNotKeepLargeDocuments(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	var enc Encoder
	big := L.NewTable()
	for i := range 2 * maxPooledKeys {
		big.RawSetString("key"+strconv.Itoa(i), lua.LString(strings.Repeat("v", 1000)))
	}
	if _, err := enc.Encode(big); err != nil {
		t.Fatal(err)
	}
	small := L.NewTable()
	small.RawSetString("a", lua.LNumber(1))
	if b, err := enc.Encode(small); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("%s, %v", b, err)
	}
	if cap(enc.buf) > maxPooledBuf {
		t.Errorf("the encoder kept a buffer of %d bytes", cap(enc.buf))
	}
	for depth, kvs := range enc.keys {
		if cap(kvs) > maxPooledKeys {
			t.Errorf("the encoder kept %d entries at depth %d", cap(kvs), depth)
		}
	}
	var in Interner
	long := strings.Repeat("k", 1<<20)
	if _, err := DecodeJSONInterned(L, []byte(`{"`+long+`":1,"short":2}`), &in); err != nil {
		t.Fatal(err)
	}
	for k := range in.keys {
		if len(k) > internKeyLen {
			t.Errorf("the interner kept a key of %d bytes", len(k))
		}
	}
	if _, ok := in.keys["short"]; !ok {
		t.Error("the interner did not keep a short key")
	}
}
