package bridge

// The JSON encoder: appends a Lua value's JSON to a reused buffer, arrays by index, objects
// with their keys sorted, and checks each string's escaped length against Encoder.Max before
// writing it.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/fastlua/fastlua/internal/luanum"
	lua "github.com/yuin/gopher-lua"
)

// Encoder turns Lua values into JSON. Its buffers are reused between calls, so keep one per
// goroutine (per state) and copy what Bytes returns if it must outlive the next call. Buffers
// that one large document grew past maxPooledBuf (maxPooledKeys) are dropped, not kept.
type Encoder struct {
	// Max bounds the length of the output; 0 means no bound. A table can name the same long
	// string many times, so its JSON can be far larger than the memory it holds. Each string is
	// measured, escapes included, before it is written: the buffer never grows past Max by more
	// than a number.
	Max int
	// MaxName is the setting Max comes from, for the error; "" means Config.MaxJSONSize.
	MaxName string
	// verbatim: a lazy object of a decoded body is written as its text with its edits spliced
	// in (see jsonlazy.go), not materialized and encoded as a table.
	verbatim bool
	buf      []byte
	keys     [][]keyValue
}

const (
	maxPooledBuf  = 1 << 20 // bytes of output an Encoder keeps for the next call
	maxPooledKeys = 4096    // object entries an Encoder keeps for the next call, per depth
)

type keyValue struct {
	key string
	val lua.LValue
}

// EncodeError is returned for Lua values that have no JSON form, and for output past
// Encoder.Max (Limit is then Max).
type EncodeError struct {
	Msg   string
	Limit int
}

// Error returns the error's text.
func (e *EncodeError) Error() string { return "cannot encode to JSON: " + e.Msg }

// Encode returns the JSON text of v. The slice is reused by the next call.
func (e *Encoder) Encode(v lua.LValue) ([]byte, error) {
	if cap(e.buf) > maxPooledBuf {
		e.buf = nil // the last document's: let it go
	}
	e.buf = e.buf[:0]
	var err error
	e.buf, err = e.append(e.buf, v, 0)
	if err != nil {
		return nil, err
	}
	return e.buf, nil
}

func (e *Encoder) append(dst []byte, v lua.LValue, depth int) ([]byte, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return append(dst, "null"...), nil
	case lua.LBool:
		if v {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case lua.LNumber:
		return appendNumber(dst, float64(v))
	case lua.LString:
		if e.Max > 0 && e.over(dst, string(v)) {
			return dst, e.tooLong()
		}
		return AppendString(dst, string(v)), nil
	case *lua.LUserData:
		switch v {
		case Null:
			return append(dst, "null"...), nil
		case EmptyArray:
			return append(dst, "[]"...), nil
		}
		if out, ok, err := e.encodeObject(dst, v, depth); ok { // the event objects (tables.go)
			return out, err
		}
		return dst, &EncodeError{Msg: "a userdata value"}
	case *lua.LTable:
		if depth >= maxJSONDepth {
			return dst, &EncodeError{Msg: fmt.Sprintf("tables nested deeper than %d (or a table that contains itself)", maxJSONDepth)}
		}
		if v.Metatable != lua.LNil && v.Metatable != ArrayMeta {
			if s := lazyStateOf(v); s != nil {
				return e.appendLazy(dst, s, v, depth+1)
			}
		}
		return e.table(dst, v, depth+1)
	default:
		return dst, &EncodeError{Msg: "a " + v.Type().String() + " value"}
	}
}

func (e *Encoder) table(dst []byte, tb *lua.LTable, depth int) ([]byte, error) {
	n := tableLen(tb)
	if n < 0 {
		return dst, &EncodeError{Msg: fmt.Sprintf("a table that holds an element twice, after table.insert on an array longer than %d elements (whose end # and table.insert do not see)", lua.MaxArrayIndex-1)}
	}
	if n == 0 {
		if tb.Metatable == ArrayMeta {
			return append(dst, "[]"...), nil
		}
		return append(dst, "{}"...), nil
	}
	if isArray(tb, n) {
		dst = append(dst, '[')
		var err error
		for i := 1; i <= n; i++ {
			if i > 1 {
				dst = append(dst, ',')
			}
			if dst, err = e.append(dst, elem(tb, i), depth); err != nil {
				return dst, err
			}
			if e.Max > 0 && len(dst) > e.Max {
				return dst, e.tooLong()
			}
		}
		return append(dst, ']'), nil
	}
	// An object: collect and sort the keys into a per-depth scratch slice.
	for len(e.keys) <= depth {
		e.keys = append(e.keys, nil)
	}
	kvs := e.keys[depth][:0]
	var err error
	if !entriesNeedForEach(tb) {
		for k, v := tb.Next(lua.LNil); k != lua.LNil && err == nil; k, v = tb.Next(k) {
			kvs, err = appendKey(kvs, k, v)
		}
	} else {
		tb.ForEach(func(k, v lua.LValue) { // each key once: tableLen found none held twice
			if err == nil {
				kvs, err = appendKey(kvs, k, v)
			}
		})
	}
	if err != nil {
		clear(kvs)
		e.keys[depth] = kvs[:0]
		return dst, err
	}
	slices.SortFunc(kvs, func(a, b keyValue) int { return strings.Compare(a.key, b.key) })
	e.keys[depth] = kvs
	dst = append(dst, '{')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		if e.Max > 0 && e.over(dst, kv.key) {
			clear(kvs)
			return dst, e.tooLong()
		}
		dst = AppendString(dst, kv.key)
		dst = append(dst, ':')
		if dst, err = e.append(dst, kv.val, depth); err != nil {
			clear(kvs)
			return dst, err
		}
		if e.Max > 0 && len(dst) > e.Max {
			clear(kvs)
			return dst, e.tooLong()
		}
	}
	clear(kvs) // drop references to Lua values
	if cap(kvs) > maxPooledKeys {
		e.keys[depth] = nil
	}
	return append(dst, '}'), nil
}

// appendKey appends an object entry with k written as a JSON name.
func appendKey(kvs []keyValue, k, v lua.LValue) ([]keyValue, error) {
	switch k := k.(type) {
	case lua.LString:
		return append(kvs, keyValue{string(k), v}), nil
	case lua.LNumber:
		s, err := appendNumber(nil, float64(k))
		if err != nil {
			return kvs, &EncodeError{Msg: "a table key that is not a finite number"}
		}
		return append(kvs, keyValue{string(s), v}), nil
	default:
		return kvs, &EncodeError{Msg: "a table key of type " + k.Type().String()}
	}
}

// over reports whether appending s as a JSON string to dst passes Max (> 0). The exact length
// of its escaped form is counted only when six bytes a byte (\u00XX) could pass it.
func (e *Encoder) over(dst []byte, s string) bool {
	return len(dst)+2+6*len(s) > e.Max && len(dst)+jsonStringSize(s) > e.Max
}

func (e *Encoder) tooLong() error {
	name := e.MaxName
	if name == "" {
		name = "Config.MaxJSONSize"
	}
	return &EncodeError{Msg: fmt.Sprintf("the JSON text would be more than %d bytes (%s)", e.Max, name), Limit: e.Max}
}

// appendNumber appends f as a JSON number: integral values without a fraction or exponent
// (up to 1e21), others in the shortest form that reads back as the same float64, in plain
// decimal from 1e-6 to 1e21 (internal/luanum: tostring writes numbers the same way, and
// JavaScript and encoding/json do too).
func appendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, &EncodeError{Msg: "NaN or an infinite number"}
	}
	return luanum.Append(dst, f), nil
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD; <, > and & are kept
// as they are (the output is for APIs, not HTML).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonStringSize is the length of AppendString's output for s.
func jsonStringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c != '"' && c != '\\':
				n++
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			default:
				n += 6
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += 3
		} else {
			n += size
		}
		i += size
	}
	return n
}
