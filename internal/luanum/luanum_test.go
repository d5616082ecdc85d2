package luanum

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// pointThree is 0.1 + 0.2 computed at run time (a constant expression would be exactly 0.3).
var pointThree = func(a, b float64) float64 { return a + b }(0.1, 0.2)

func TestAppend(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{42, "42"},
		{-7, "-7"},
		{1e15, "1000000000000000"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{1796226846.598926, "1796226846.598926"},
		{pointThree, "0.30000000000000004"},
		{59.97, "59.97"},
		{-2.5, "-2.5"},
		{1e-6, "0.000001"},
		{1e-7, "1e-7"},
		{1.5e-10, "1.5e-10"},
		{-1.25e300, "-1.25e+300"},
		{math.MaxInt64, "9223372036854776000"},
		{1 << 53, "9007199254740992"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	} {
		if got := string(Append(nil, c.in)); got != c.want {
			t.Errorf("Append(%v) = %q, want %q", c.in, got, c.want)
		}
		if got := String(c.in); got != c.want {
			t.Errorf("String(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestAppendIsEncodingJSONAndRoundTrips compares Append with encoding/json (which writes
// JavaScript's form) on random finite numbers, and checks that the text reads back exactly.
func TestAppendIsEncodingJSONAndRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		var f float64
		switch i % 4 {
		case 0:
			f = math.Float64frombits(r.Uint64())
		case 1:
			f = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		case 2:
			f = float64(r.Int64N(1<<62) - 1<<61)
		default:
			f = math.Round(r.Float64()*1e6) / 100
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		got := String(f)
		want, _ := json.Marshal(f)
		if f == math.Trunc(f) && math.Abs(f) < 1e21 {
			// encoding/json writes integral values the same way, except -0.
			if f == 0 {
				want = []byte("0")
			}
		}
		if got != string(want) {
			t.Fatalf("String(%v) = %q, encoding/json %q", f, got, want)
		}
		if back, err := strconv.ParseFloat(got, 64); err != nil || back != f {
			t.Fatalf("String(%v) = %q reads back as %v (%v)", f, got, back, err)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"42", 42, true},
		{"  -7\t\n", -7, true},
		{"+3", 3, true},
		{"010", 10, true},
		{"1e3", 1000, true},
		{"1E+3", 1000, true},
		{"-2.25e-5", -2.25e-5, true},
		{".5", 0.5, true},
		{"5.", 5, true},
		{"0x1F", 31, true},
		{"-0x10", -16, true},
		{"0xffffffffffffffffff", 0xffffffffffffffffff, true},
		{"100000000000000000000", 1e20, true},
		{"12345678901234567000", 12345678901234567000, true},
		{"1e400", math.Inf(1), true},
		{"", 0, false},
		{" ", 0, false},
		{"-", 0, false},
		{".", 0, false},
		{"e5", 0, false},
		{"1e", 0, false},
		{"1e+", 0, false},
		{"1_000", 0, false},
		{"0b101", 0, false},
		{"0o17", 0, false},
		{"0x", 0, false},
		{"0x1p4", 0, false},
		{"0x_1", 0, false},
		{"Inf", 0, false},
		{"NaN", 0, false},
		{"infinity", 0, false},
		{"12abc", 0, false},
		{"1 2", 0, false},
	} {
		got, ok := Parse(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestParseReadsWhatAppendWrites: every text Append writes for a finite number reads back as
// that number.
func TestParseReadsWhatAppendWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if f == 0 {
			f = 0 // -0 is written "0"
		}
		s := String(f)
		if back, ok := Parse(s); !ok || back != f {
			t.Fatalf("Parse(String(%v) = %q) = %v, %v", f, s, back, ok)
		}
	}
}
