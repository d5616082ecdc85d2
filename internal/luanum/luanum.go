// Package luanum writes a Lua number as text, one way for every place a script's number becomes
// a string: tostring, print, log, "..", table.concat, string.format's %s, gsub replacements and
// json.encode.
//
// gopher-lua's own conversion (LNumber.String) writes an integral value's digits and any other
// value in Go's shortest %v form, which switches to an exponent early: a timestamp with a
// fraction, 1796226846.598926, reads "1.796226846598926e+09". The rule here is JavaScript's
// Number.prototype.toString (and Go's encoding/json): the shortest text that reads back as the
// same float64, in plain decimal for magnitudes from 1e-6 up to 1e21 and with an exponent
// outside them ("1e+21", "1e-7"); integers up to 2^53 are their exact digits, as before. What DreamFactory's PHP and JavaScript scripts printed reads the
// same here, and the text always converts back to the same number (tonumber(tostring(x)) == x).
// NaN and the infinities keep gopher-lua's spelling ("NaN", "+Inf", "-Inf"); json.encode refuses
// them before it gets here.
package luanum

import (
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Append appends f to dst as described in the package doc.
func Append(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		if f == 0 {
			return append(dst, '0') // also for -0, as gopher-lua writes it
		}
		if f >= -1<<53 && f <= 1<<53 {
			return strconv.AppendInt(dst, int64(f), 10)
		}
		return strconv.AppendFloat(dst, f, 'f', -1, 64) // shortest: 9223372036854775807 reads 9223372036854776000
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, lua.LNumber(f).String()...)
	}
	abs := math.Abs(f)
	if abs < 1e-6 || abs >= 1e21 {
		n := len(dst)
		dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
		// "1e-07" -> "1e-7", as JavaScript and encoding/json write it.
		if m := len(dst); m-n >= 4 && dst[m-4] == 'e' && dst[m-2] == '0' {
			dst[m-2] = dst[m-1]
			dst = dst[:m-1]
		}
		return dst
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// String returns f as Append writes it.
func String(f float64) string {
	if f == math.Trunc(f) && f >= -1<<53 && f <= 1<<53 {
		return strconv.FormatInt(int64(f), 10) // the common case, without a buffer
	}
	var b [32]byte
	return string(Append(b[:0], f))
}

// Text returns the text of v as tostring writes it without a __tostring metamethod: a number
// by the rule above, any other value as gopher-lua writes it.
func Text(v lua.LValue) string {
	if n, ok := v.(lua.LNumber); ok {
		return String(float64(n))
	}
	return v.String()
}

// Parse converts s as Lua 5.1's tonumber(s) does without a base (and with base 10): spaces
// around it, an optional sign, then a decimal number with an optional fraction and exponent
// ("1e3", ".5", "5.", "-2.25e-5") or a hexadecimal integer ("0x1F"). Anything else, including
// Go's own forms ("1_000", "0b101", "0o17", "Inf", "NaN", "0x1p4"), is not a number. A leading
// zero is decimal, as in Lua: "010" is 10 (gopher-lua's tonumber read it as octal, and refused
// "1e3" and any integer past int64).
func Parse(s string) (float64, bool) {
	s = strings.Trim(s, " \t\n\v\f\r")
	body := s
	neg := false
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		u, err := strconv.ParseUint(body[2:], 16, 64)
		if err != nil || strings.IndexByte(body, '_') >= 0 {
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange || !allHex(body[2:]) {
				return 0, false
			}
			// Past 64 bits: C's strtod still reads it, rounded.
			f := 0.0
			for _, c := range body[2:] {
				f = f*16 + float64(hexValue(byte(c)))
			}
			if neg {
				f = -f
			}
			return f, true
		}
		f := float64(u)
		if neg {
			f = -f
		}
		return f, true
	}
	if !decimal(body) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Out of range: ParseFloat returns ±Inf or 0 with ErrRange, as strtod does (HUGE_VAL).
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// decimal reports whether s is digits, an optional fraction and an optional exponent, with at
// least one digit before the exponent.
func decimal(s string) bool {
	i, digits := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if hexValue(s[i]) < 0 {
			return false
		}
	}
	return s != ""
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
