package bridge

import (
	"bytes"
	"errors"
	"fmt"
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
		if dup := strings.Count(c.in, ":") > strings.Count(string(out), ":"); equalJSON(v, []byte(c.in)) == dup {
			t.Errorf("equalJSON(decode(%s), itself) = %v", c.in, dup)
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
// arrays to equalJSON and the encoder, so an unchanged one is equal to its text and encodes
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
	if !equalJSON(v, text) || tableLen(tb) != n {
		t.Fatalf("equalJSON(decode(text), text) = %v, tableLen = %d", equalJSON(v, text), tableLen(tb))
	}
	if out, err := enc.Encode(v); err != nil || !bytes.Equal(out, text) {
		t.Fatalf("decode then encode is not the identity (%v): %.40s...%s", err, out, out[len(out)-min(40, len(out)):])
	}
	for _, i := range []int{1, max - 1, max, n} {
		// As a script changes it: t[i] = v, then back.
		old := L.GetTable(tb, lua.LNumber(i))
		L.SetTable(tb, lua.LNumber(i), lua.LString("changed"))
		if equalJSON(v, text) {
			t.Errorf("equalJSON did not see element %d change", i)
		}
		if out, err := enc.Encode(v); err != nil || !bytes.Equal(out, arrayTextChanged(n, []byte{0}, i)) {
			t.Fatalf("element %d changed: not an array of %d with it changed (%v): %.60s", i, n, err, out)
		}
		L.SetTable(tb, lua.LNumber(i), old)
	}
	if !equalJSON(v, text) {
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
	if !equalJSON(tb, out) || tableLen(tb) != n {
		t.Fatalf("equalJSON = %v, tableLen = %d", equalJSON(tb, out), tableLen(tb))
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
	if equalJSON(tb, text) || equalJSON(tb, arrayText(max+6, []byte{0})) {
		t.Error("equalJSON: a table holding an element twice equals an array")
	}
	var enc Encoder
	_, err := enc.Encode(tb)
	var ee *EncodeError
	if !errors.As(err, &ee) || !strings.Contains(ee.Msg, "table.insert on an array longer than "+strconv.Itoa(max-1)) {
		t.Fatalf("Encode: %v", err)
	}
}
