package bridge

import (
	"math/rand"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// json.encode counts its text's length before it writes it: the count is the length written.
func TestJSONSizeIsTheEncodedLength(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	rnd := rand.New(rand.NewSource(3))
	var value func(depth int) lua.LValue
	str := func() lua.LValue {
		b := make([]byte, rnd.Intn(12))
		for i := range b {
			b[i] = []byte{'a', '"', '\\', '\n', '\r', '\t', 0, 1, 0x1f, 0x7f, 0xc3, 0xa9, 0xff, 0xe2, 0x82, 0xac}[rnd.Intn(16)]
		}
		return lua.LString(b)
	}
	value = func(depth int) lua.LValue {
		switch k := rnd.Intn(9); {
		case k == 0:
			return lua.LNil
		case k == 1:
			return lua.LBool(rnd.Intn(2) == 0)
		case k == 2:
			return lua.LNumber(rnd.NormFloat64() * 1e6)
		case k == 3:
			return lua.LNumber(rnd.Intn(1000))
		case k == 4 && depth < 4:
			tb := L.CreateTable(0, 0)
			for i := rnd.Intn(5); i > 0; i-- {
				tb.Append(value(depth + 1))
			}
			if rnd.Intn(3) == 0 {
				tb.Metatable = ArrayMeta
			}
			return tb
		case k == 5 && depth < 4:
			tb := L.CreateTable(0, 0)
			for i := rnd.Intn(5); i > 0; i-- {
				if rnd.Intn(3) == 0 {
					tb.RawSet(lua.LNumber(rnd.Intn(50)+10), value(depth+1))
				} else {
					tb.RawSet(str(), value(depth+1))
				}
			}
			return tb
		case k == 6:
			return []lua.LValue{Null, EmptyArray}[rnd.Intn(2)]
		default:
			return str()
		}
	}
	enc := Encoder{}
	for i := 0; i < 20000; i++ {
		v := value(0)
		b, err := enc.Encode(v)
		if err != nil {
			continue
		}
		if n := jsonSize(v, 1<<30, 0); n != len(b) {
			t.Fatalf("counted %d, encoded %d: %s", n, len(b), b)
		}
	}
	// Past the limit, the count stops early.
	big := L.CreateTable(0, 0)
	for i := 0; i < 1000; i++ {
		big.Append(lua.LString(strings.Repeat("\x01", 1000)))
	}
	if n := jsonSize(big, 10000, 0); n <= 10000 || n > 20000 {
		t.Fatalf("count past the limit: %d", n)
	}
}
