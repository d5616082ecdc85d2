package fastlua

import (
	"math"
	"math/rand"
	"strings"
	"testing"
	"unicode"

	lua "github.com/yuin/gopher-lua"
)

// The sizes the caps count before building are the sizes then built.
func TestCountedSizes(t *testing.T) {
	rnd := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rnd.Intn(16))
		for j := range b {
			b[j] = byte(rnd.Intn(256))
		}
		if rnd.Intn(2) == 0 {
			b = []byte(string([]rune{rune(rnd.Intn(0x3000)), 'ı', 'ſ', 'ɐ', 'ẞ', 'ǅ'}[rnd.Intn(6)]) + string(b))
		}
		s := string(b)
		if n := caseMappedLen(s, unicode.ToUpper); n != len(strings.ToUpper(s)) {
			t.Fatalf("upper %q: counted %d, made %d", s, n, len(strings.ToUpper(s)))
		}
		if n := caseMappedLen(s, unicode.ToLower); n != len(strings.ToLower(s)) {
			t.Fatalf("lower %q: counted %d, made %d", s, n, len(strings.ToLower(s)))
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e15, 1e16, 1e20, 1e21, 2e22, 1.5e300, 5e-324, 123456789.125,
		math.MaxInt64, math.MinInt64, 1 << 53, math.Inf(1), math.Inf(-1), math.NaN(), 1 / 3.0, -2.5e-7} {
		v := lua.LNumber(f)
		if got := string(appendNumber(nil, v)); got != v.String() {
			t.Errorf("appendNumber(%v) = %q, tostring gives %q", f, got, v.String())
		}
	}
	for i := 0; i < 20000; i++ {
		v := lua.LNumber(math.Float64frombits(rnd.Uint64()))
		if i%2 == 0 {
			v = lua.LNumber(rnd.Int63() >> rnd.Intn(63))
		}
		if got := string(appendNumber(nil, v)); got != v.String() {
			t.Fatalf("appendNumber(%v) = %q, tostring gives %q", float64(v), got, v.String())
		}
	}
}
