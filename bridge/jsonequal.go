package bridge

// equalJSON: the decoder's scanner walked beside a Lua value instead of building one, to find
// out without allocating whether a script changed a decoded body in place.

import (
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// equalJSON reports whether v is what data decodes to: the same structure, numbers, strings,
// booleans and nulls. It allocates nothing for ordinary documents and is how the bridge finds
// out whether a script changed a decoded body in place. Malformed data is never equal.
func equalJSON(v lua.LValue, data []byte) bool {
	d := decoder{data: data}
	d.skipSpace()
	if !d.equal(v, 0) {
		return false
	}
	d.skipSpace()
	return d.pos == len(d.data)
}

func (d *decoder) equal(v lua.LValue, depth int) bool {
	if d.pos >= len(d.data) || depth > maxJSONDepth {
		return false
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		tb, ok := v.(*lua.LTable)
		if !ok {
			return false
		}
		if d.lz != nil {
			if same, done := d.equalLazy(tb, depth); done {
				return same
			}
		}
		d.pos++
		n := 0
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == '}' {
			d.pos++
			return tableLen(tb) == 0 && tb.Metatable != ArrayMeta
		}
		for {
			d.skipSpace()
			if d.pos >= len(d.data) || d.data[d.pos] != '"' {
				return false
			}
			key, err := d.strBytes()
			if err != nil {
				return false
			}
			// The map lookup does not keep the key, so the bytes need not be copied.
			field := tb.RawGetString(unsafe.String(unsafe.SliceData(key), len(key)))
			if field == lua.LNil {
				return false
			}
			d.skipSpace()
			if d.pos >= len(d.data) || d.data[d.pos] != ':' {
				return false
			}
			d.pos++
			d.skipSpace()
			if !d.equal(field, depth+1) {
				return false
			}
			n++
			d.skipSpace()
			if d.pos >= len(d.data) {
				return false
			}
			switch d.data[d.pos] {
			case ',':
				d.pos++
			case '}':
				d.pos++
				// Duplicate keys in the document make n larger than the table: not equal,
				// which at worst rewrites the body in its normal form.
				return tableLen(tb) == n
			default:
				return false
			}
		}
	case c == '[':
		d.pos++
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			if ud, ok := v.(*lua.LUserData); ok {
				return ud == EmptyArray
			}
			tb, ok := v.(*lua.LTable)
			return ok && tableLen(tb) == 0 && tb.Metatable == ArrayMeta
		}
		tb, ok := v.(*lua.LTable)
		if !ok {
			return false
		}
		for i := 1; ; i++ {
			d.skipSpace()
			if !d.equal(elem(tb, i), depth+1) {
				return false
			}
			d.skipSpace()
			if d.pos >= len(d.data) {
				return false
			}
			switch d.data[d.pos] {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return tableLen(tb) == i
			default:
				return false
			}
		}
	case c == '"':
		s, ok := v.(lua.LString)
		if !ok {
			return false
		}
		b, err := d.strBytes()
		return err == nil && string(b) == string(s)
	case c == '-' || (c >= '0' && c <= '9'):
		n, ok := v.(lua.LNumber)
		if !ok {
			return false
		}
		f, err := d.number()
		return err == nil && float64(n) == f
	case c == 't':
		return v == lua.LTrue && d.literal("true") == nil
	case c == 'f':
		return v == lua.LFalse && d.literal("false") == nil
	case c == 'n':
		return v == Null && d.literal("null") == nil
	}
	return false
}
