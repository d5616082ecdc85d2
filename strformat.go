package fastlua

import (
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/fastlua/fastlua/internal/luanum"
	lua "github.com/yuin/gopher-lua"
)

// string.format.
//
// This is Lua 5.1's string.format (lstrlib.c str_format), not gopher-lua's, which hands the
// format to Go's fmt: that accepts Go's own syntax (argument indexes "%[1]s", "%v", "%*d") and
// bounds nothing, so one call could build gigabytes. Here a format item is a '%', flags from
// "-+ #0" (five at most), a width and a precision of at most two digits each, and one of the
// conversions d i o u c x X e E f g G q s; "%%" is a '%'; anything else is an error, as in Lua
// 5.1. Every piece's size is known before it is appended, and a result that would pass
// Config.MaxStringSize fails the call before it is built.
//
// The output is C's printf's (glibc's), as in Lua 5.1, with these choices where Lua 5.1 shows a
// C artefact: %c writes its byte even when it is 0, %s and %q keep the bytes after a zero byte,
// %s of a number is the number as tostring writes it (gopher-lua's conversion), and %s of a
// value that is neither a string nor a number is tostring's text without metamethods ("nil",
// "true", "table: 0x..."), as gopher-lua's string.format gives. A missing argument is an error
// ("bad argument #2 to 'format' (number expected, got no value)").

// fmtScratch is the capacity of a state's reusable format buffer: a result up to this size is
// built there and copied once, into the result string; a longer one is built in a buffer of
// its own, which becomes the string without a copy.
const fmtScratch = 256

// fmtSpec is one parsed format item.
type fmtSpec struct {
	minus, plus, space, sharp, zero bool
	width                           int
	prec                            int // -1: none
}

// strFormat is string.format. scratch is the state's reusable buffer (string.format calls no
// Lua code, so it is never in use twice at once).
func (st *state) strFormat(L *lua.LState, scratch []byte) int {
	f := L.CheckString(1)
	top := L.GetTop()
	out := scratch[:0]
	arg := 1
	var tmp [512]byte // one formatted number: at most 1 + 309 + 1 + 99 bytes, or a width of 99
	for i := 0; i < len(f); {
		if f[i] != '%' {
			j := strings.IndexByte(f[i:], '%')
			if j < 0 {
				j = len(f) - i
			}
			out = st.fmtRoom(L, out, j)
			out = append(out, f[i:i+j]...)
			i += j
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			out = st.fmtRoom(L, out, 1)
			out = append(out, '%')
			i++
			continue
		}
		var sp fmtSpec
		i = scanFormat(L, f, i, &sp)
		var conv byte // 0: the format ends inside an item
		if i < len(f) {
			conv = f[i]
			i++
		}
		arg++
		switch conv {
		case 'd', 'i':
			n := cInt64(fmtNumber(L, arg, top))
			u := uint64(n)
			if n < 0 {
				u = -u
			}
			out = st.fmtAppend(L, out, appendInt(tmp[:0], &sp, n < 0, u, 10, conv))
		case 'o', 'u', 'x', 'X':
			base := 16
			switch conv {
			case 'o':
				base = 8
			case 'u':
				base = 10
			}
			out = st.fmtAppend(L, out, appendInt(tmp[:0], &sp, false, cUint64(fmtNumber(L, arg, top)), base, conv))
		case 'c':
			c := [1]byte{cByte(fmtNumber(L, arg, top))}
			out = st.fmtAppend(L, out, pad(tmp[:0], c[:], &sp))
		case 'e', 'E', 'f', 'g', 'G':
			out = st.fmtAppend(L, out, appendFloat(tmp[:0], &sp, fmtNumber(L, arg, top), conv))
		case 'q':
			out = st.fmtQuoted(L, out, fmtString(L, arg, top, true))
		case 's':
			s := fmtString(L, arg, top, false)
			if sp.prec >= 0 && len(s) > sp.prec {
				s = s[:sp.prec]
			}
			if n := sp.width - len(s); n > 0 {
				out = st.fmtRoom(L, out, sp.width)
				if !sp.minus {
					out = appendSpaces(out, n)
				}
				out = append(out, s...)
				if sp.minus {
					out = appendSpaces(out, n)
				}
			} else {
				out = st.fmtRoom(L, out, len(s))
				out = append(out, s...)
			}
		case 0:
			L.RaiseError("%s", "invalid option '%' to 'format'")
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", conv)
		}
	}
	if len(out) > 0 && unsafe.SliceData(out) != unsafe.SliceData(scratch[:1]) {
		// A buffer of its own, grown for this result: it becomes the string, without a copy.
		L.Push(lua.LString(unsafe.String(unsafe.SliceData(out), len(out))))
		return 1
	}
	L.Push(lua.LString(string(out)))
	return 1
}

// scanFormat reads the flags, width and precision of the item at f[i:] into sp (as Lua 5.1's
// scanformat does) and returns the index of the conversion.
func scanFormat(L *lua.LState, f string, i int, sp *fmtSpec) int {
	start := i
	for ; i < len(f); i++ {
		switch f[i] {
		case '-':
			sp.minus = true
		case '+':
			sp.plus = true
		case ' ':
			sp.space = true
		case '#':
			sp.sharp = true
		case '0':
			sp.zero = true
		default:
			goto flagsDone
		}
	}
flagsDone:
	if i-start > 5 {
		L.RaiseError("invalid format (repeated flags)")
	}
	sp.width, i = twoDigits(f, i)
	sp.prec = -1
	if i < len(f) && f[i] == '.' {
		sp.prec, i = twoDigits(f, i+1)
	}
	if i < len(f) && f[i] >= '0' && f[i] <= '9' {
		L.RaiseError("invalid format (width or precision too long)")
	}
	return i
}

// twoDigits reads up to two decimal digits at f[i:].
func twoDigits(f string, i int) (int, int) {
	n := 0
	for k := 0; k < 2 && i < len(f) && f[i] >= '0' && f[i] <= '9'; k++ {
		n = n*10 + int(f[i]-'0')
		i++
	}
	return n, i
}

// fmtRoom makes room for n more bytes in out. A result that would pass the string limit fails
// here, before anything is allocated for it; a buffer grows at most to the limit.
func (st *state) fmtRoom(L *lua.LState, out []byte, n int) []byte {
	need := len(out) + n
	if limit := st.m.cfg.MaxStringSize; need > limit {
		st.raiseStringLimit(L, "string.format", need)
	}
	if need <= cap(out) {
		return out
	}
	grown := make([]byte, len(out), min(max(2*cap(out), need), st.m.cfg.MaxStringSize))
	copy(grown, out)
	return grown
}

func (st *state) fmtAppend(L *lua.LState, out, piece []byte) []byte {
	out = st.fmtRoom(L, out, len(piece))
	return append(out, piece...)
}

// fmtQuoted appends s as %q writes it: between double quotes, with ", \ and newline escaped by
// a backslash, carriage return as \r and the zero byte as \000.
func (st *state) fmtQuoted(L *lua.LState, out []byte, s string) []byte {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '\n', '\r':
			n++
		case 0:
			n += 3
		}
	}
	out = st.fmtRoom(L, out, n)
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\n':
			esc = "\\\n"
		case '\r':
			esc = `\r`
		case 0:
			esc = `\000`
		default:
			continue
		}
		out = append(out, s[start:i]...)
		out = append(out, esc...)
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

// fmtArgError raises Lua 5.1's error for a bad argument of string.format.
func fmtArgError(L *lua.LState, arg int, expected string, top int) {
	got := "no value"
	if arg <= top {
		got = L.Get(arg).Type().String()
	}
	L.RaiseError("bad argument #%d to 'format' (%s expected, got %s)", arg, expected, got)
}

// fmtNumber returns argument arg as a number: a number, or a string that converts to one.
func fmtNumber(L *lua.LState, arg, top int) float64 {
	if arg <= top {
		switch v := L.Get(arg).(type) {
		case lua.LNumber:
			return float64(v)
		case lua.LString:
			if n, ok := parseNumber(string(v)); ok {
				return n
			}
		}
	}
	fmtArgError(L, arg, "number", top)
	return 0
}

// fmtString returns argument arg as the string %s or %q writes.
func fmtString(L *lua.LState, arg, top int, quote bool) string {
	if arg <= top {
		switch v := L.Get(arg).(type) {
		case lua.LString:
			return string(v)
		case lua.LNumber:
			return luanum.String(float64(v))
		default:
			if !quote {
				return v.String()
			}
		}
	}
	fmtArgError(L, arg, "string", top)
	return ""
}

// parseNumber converts a string to a number as gopher-lua does (its parseNumber): spaces,
// tabs and newlines around it are ignored, then it is an integer (with a base prefix, as Go's
// strconv.ParseInt reads one) or a float.
func parseNumber(s string) (float64, bool) {
	s = strings.Trim(s, " \t\n")
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return float64(n), true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// cInt64 converts f as C's (long) cast does on x86-64: truncated toward zero, and out of range
// (or NaN) the "integer indefinite" value, the smallest int64.
func cInt64(f float64) int64 {
	if f >= -9.223372036854775808e18 && f < 9.223372036854775808e18 {
		return int64(f)
	}
	return math.MinInt64
}

// cUint64 converts f as C's (unsigned long) cast does on x86-64 (gcc's code for it).
func cUint64(f float64) uint64 {
	const two63 = 9.223372036854775808e18
	if !(f >= two63) {
		return uint64(cInt64(f))
	}
	return uint64(cInt64(f-two63)) ^ (1 << 63)
}

// cByte converts f as C's (int) cast does, then keeps the low byte, as %c does.
func cByte(f float64) byte {
	if f > -2147483649 && f < 2147483648 {
		return byte(int32(f))
	}
	return 0
}

// appendInt appends an integer item: u in base (the magnitude, with neg for %d and %i), with
// C's precision (the least number of digits), '#' (a leading 0 for %o, 0x for %x of non-zero
// values), sign flags (signed conversions only) and padding.
func appendInt(dst []byte, sp *fmtSpec, neg bool, u uint64, base int, conv byte) []byte {
	var digitsBuf [24]byte
	var digits []byte
	if sp.prec != 0 || u != 0 {
		digits = strconv.AppendUint(digitsBuf[:0], u, base)
		if conv == 'X' {
			for i, c := range digits {
				if c >= 'a' {
					digits[i] = c - 'a' + 'A'
				}
			}
		}
	}
	zeros := max(sp.prec-len(digits), 0)
	if conv == 'o' && sp.sharp && zeros == 0 && (len(digits) == 0 || digits[0] != '0') {
		zeros = 1
	}
	var prefix string
	switch {
	case conv == 'd' || conv == 'i':
		switch {
		case neg:
			prefix = "-"
		case sp.plus:
			prefix = "+"
		case sp.space:
			prefix = " "
		}
	case sp.sharp && u != 0 && conv == 'x':
		prefix = "0x"
	case sp.sharp && u != 0 && conv == 'X':
		prefix = "0X"
	}
	n := len(prefix) + zeros + len(digits)
	padding := max(sp.width-n, 0)
	if padding > 0 && !sp.minus && sp.zero && sp.prec < 0 {
		zeros += padding // zero padding goes after the sign or prefix
		padding = 0
	}
	if !sp.minus {
		dst = appendSpaces(dst, padding)
	}
	dst = append(dst, prefix...)
	for ; zeros > 0; zeros-- {
		dst = append(dst, '0')
	}
	dst = append(dst, digits...)
	if sp.minus {
		dst = appendSpaces(dst, padding)
	}
	return dst
}

// appendFloat appends a float item as C's printf writes it.
func appendFloat(dst []byte, sp *fmtSpec, f float64, conv byte) []byte {
	var sign string
	switch {
	case math.Signbit(f):
		sign = "-"
	case sp.plus:
		sign = "+"
	case sp.space:
		sign = " "
	}
	upper := conv == 'E' || conv == 'G'
	var bodyBuf [420]byte
	var body []byte
	zeroPad := sp.zero
	switch {
	case math.IsInf(f, 0) || math.IsNaN(f):
		zeroPad = false
		word := "inf"
		if math.IsNaN(f) {
			word = "nan"
		}
		if upper {
			word = strings.ToUpper(word)
		}
		body = append(bodyBuf[:0], word...)
	default:
		body = appendFloatDigits(bodyBuf[:0], math.Abs(f), sp, conv)
	}
	n := len(sign) + len(body)
	padding := max(sp.width-n, 0)
	zeros := 0
	if padding > 0 && !sp.minus && zeroPad {
		zeros, padding = padding, 0
	}
	if !sp.minus {
		dst = appendSpaces(dst, padding)
	}
	dst = append(dst, sign...)
	for ; zeros > 0; zeros-- {
		dst = append(dst, '0')
	}
	dst = append(dst, body...)
	if sp.minus {
		dst = appendSpaces(dst, padding)
	}
	return dst
}

// appendFloatDigits appends a finite f >= 0 in conversion e, E, f, g or G with sp's precision
// (6 by default) and '#' flag.
func appendFloatDigits(dst []byte, f float64, sp *fmtSpec, conv byte) []byte {
	prec := sp.prec
	if prec < 0 {
		prec = 6
	}
	switch conv {
	case 'e', 'E', 'f':
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, conv, prec, 64)
		if sp.sharp && prec == 0 {
			// '#': always a decimal point ("1." and "1.e+00").
			if conv == 'f' {
				return append(dst, '.')
			}
			return insertByte(dst, start+1, '.')
		}
		return dst
	}
	// g and G: %e with precision P-1 if the exponent X is below -4 or at least P, else %f
	// with precision P-1-X; without '#', trailing zeros (and a trailing point) are removed.
	if prec == 0 {
		prec = 1
	}
	if !sp.sharp {
		return strconv.AppendFloat(dst, f, conv, prec, 64) // the same rule, zeros removed
	}
	e := 'e'
	if conv == 'G' {
		e = 'E'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, byte(e), prec-1, 64)
	x := 0
	if k := strings.LastIndexByte(string(dst[start:]), byte(e)); k >= 0 {
		x, _ = strconv.Atoi(string(dst[start+k+1:]))
	}
	if x >= -4 && x < prec {
		dst = strconv.AppendFloat(dst[:start], f, 'f', prec-1-x, 64)
		if prec-1-x == 0 {
			dst = append(dst, '.')
		}
		return dst
	}
	if prec-1 == 0 {
		dst = insertByte(dst, start+1, '.')
	}
	return dst
}

func insertByte(b []byte, i int, c byte) []byte {
	b = append(b, 0)
	copy(b[i+1:], b[i:])
	b[i] = c
	return b
}

// pad pads s to sp's width with spaces (left-justified with '-'), into dst.
func pad(dst, s []byte, sp *fmtSpec) []byte {
	padding := max(sp.width-len(s), 0)
	if !sp.minus {
		dst = appendSpaces(dst, padding)
	}
	dst = append(dst, s...)
	if sp.minus {
		dst = appendSpaces(dst, padding)
	}
	return dst
}

func appendSpaces(dst []byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, ' ')
	}
	return dst
}
