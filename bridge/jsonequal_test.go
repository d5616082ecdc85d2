package bridge

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

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
		if equalJSON(v, []byte(doc)) {
			t.Errorf("equalJSON did not see %q", change)
		}
	}
	v := decode(t, L, doc)
	L.SetGlobal("v", v)
	if err := L.DoString(`local x = v.a; v.a = 5; v.a = x; v.tmp = 1; v.tmp = nil`); err != nil {
		t.Fatal(err)
	}
	if !equalJSON(v, []byte(doc)) {
		t.Error("a change undone counts as a change")
	}
	if equalJSON(v, []byte(`{"a":1`)) || equalJSON(lua.LNil, []byte(`null`)) {
		t.Error("equalJSON accepted malformed data or nil for null")
	}
	// Duplicate keys decode to the last value; the table is not equal to the document, which
	// at worst rewrites such a body in its normal form.
	dup := decode(t, L, `{"a":1,"a":2}`)
	if equalJSON(dup, []byte(`{"a":1,"a":2}`)) {
		t.Error("duplicate keys compared equal")
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
		if !equalJSON(v, doc) {
			b.Fatal("not equal")
		}
	}
}
