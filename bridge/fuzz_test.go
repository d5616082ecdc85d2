package bridge

// The fuzz targets of the JSON codec: any bytes (FuzzJSON) and arrays around MaxArrayIndex
// (FuzzJSONArrayBoundary). FuzzJSON's corpus in testdata/fuzz holds the inputs that widened its
// coverage; plain go test runs them as regression cases, .ci/run fuzzes it for 15 seconds more.

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Decoding then encoding an array whose length is around MaxArrayIndex, of any elements, is the
// identity, and equalJSON, tableLen and the encoder agree that it is an array.
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
		if !equalJSON(v, text) || tableLen(v.(*lua.LTable)) != n {
			t.Fatalf("n=%d: equalJSON %v, tableLen %d", n, equalJSON(v, text), tableLen(v.(*lua.LTable)))
		}
		out, err := enc.Encode(v)
		if err != nil || !bytes.Equal(out, text) {
			t.Fatalf("n=%d: decode then encode is not the identity (%v)", n, err)
		}
	})
}

// Any bytes decode to a value or fail with a *SyntaxError (or a *memoryError); a decoded value encodes, and that
// encoding decodes to a value that encodes the same way (the normal form is stable).
func FuzzJSON(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `[]`, `{}`, `"\ud83d\ude00"`, `1e400`, `-0`, `[[[[]]]]`,
		`{"a":1,"a":2}`, `"\u0000"`, `12345678901234567890`, `{"":""}`, `[1,2,3,]`, "\"\xff\"",
	} {
		f.Add([]byte(seed))
	}
	L := newTestState()
	defer L.Close()
	var enc Encoder
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeJSON(L, data)
		if err != nil {
			var se *SyntaxError
			var me *memoryError // a text of tiny containers past its memory budget
			if !errors.As(err, &se) && !errors.As(err, &me) {
				t.Fatalf("decode: %T %v", err, err)
			}
			return
		}
		first, err := enc.Encode(v)
		if err != nil {
			var ee *EncodeError
			if errors.As(err, &ee) && strings.Contains(ee.Msg, "NaN or an infinite") {
				return // 1e400 decodes to +Inf, which has no JSON form
			}
			t.Fatalf("encode of a decoded value: %v", err)
		}
		first = append([]byte(nil), first...)
		v2, err := DecodeJSON(L, first)
		if err != nil {
			t.Fatalf("the encoding %s does not decode: %v", first, err)
		}
		second, err := enc.Encode(v2)
		if err != nil || string(second) != string(first) {
			t.Fatalf("not stable: %s then %s (%v)", first, second, err)
		}
		if !equalJSON(v2, first) {
			t.Fatalf("equalJSON(decode(%s), itself) = false", first)
		}
	})
}

// newTestState is a bare Lua state for the codec.
func newTestState() *lua.LState { return lua.NewState(lua.Options{SkipOpenLibs: true}) }
