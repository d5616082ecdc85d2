package bridge

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

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
	if _, err := decodeJSONInterned(L, []byte(`{"`+long+`":1,"short":2}`), &in); err != nil {
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
