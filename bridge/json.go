package bridge

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// JSON mapping between Lua values and JSON text, used for event.request.payload,
// event.response.content and the json module.
//
//	JSON            Lua
//	null            Null (json.null), a userdata shared by all states
//	true/false      boolean
//	number          number (a float64: integers beyond 2^53 are rounded to the nearest float)
//	string          string (escapes decoded; \u surrogate pairs joined)
//	array           table with keys 1..n; an empty array gets the ArrayMeta metatable
//	object          table with string keys
//
// Encoding a table: keys 1..n and nothing else make an array; an empty table is {} unless it
// carries ArrayMeta (json.array) or is EmptyArray (json.empty_array); anything else is an object
// whose keys must be strings or numbers, written in sorted order so the output is deterministic.
// NaN, infinities, functions, other userdata and tables nested deeper than MaxJSONDepth (cycles)
// are errors.

// MaxJSONDepth bounds the nesting of arrays and objects in both directions. It also stops cycles.
const MaxJSONDepth = 200

var sharedEnv = lua.LTable{Metatable: lua.LNil}

// goFunction makes a Go function value that does not belong to any state. Such values can be
// shared by all states because nothing about them can change.
func goFunction(fn lua.LGFunction) *lua.LFunction {
	return &lua.LFunction{IsG: true, Env: &sharedEnv, GFunction: fn}
}

// protectedMeta returns a metatable whose __metatable field hides it from getmetatable and
// forbids setmetatable, so a script can neither read nor change it.
func protectedMeta(name string) *lua.LTable {
	mt := &lua.LTable{Metatable: lua.LNil}
	mt.RawSetString("__metatable", lua.LString(name))
	return mt
}

var (
	// Null is json.null: the value JSON null decodes to, and the value that encodes as null
	// inside a table (a nil would remove the key).
	Null = &lua.LUserData{Value: jsonNull{}, Metatable: nullMeta()}
	// EmptyArray is json.empty_array: a value that encodes as [].
	EmptyArray = &lua.LUserData{Value: jsonEmptyArray{}, Metatable: emptyArrayMeta()}
	// ArrayMeta marks a table as a JSON array, so that it encodes as [] when empty.
	// json.array(t) sets it; decoding an empty JSON array sets it.
	ArrayMeta = protectedMeta("json.array")
)

type jsonNull struct{}
type jsonEmptyArray struct{}

func nullMeta() *lua.LTable {
	mt := protectedMeta("json.null")
	mt.RawSetString("__tostring", goFunction(func(L *lua.LState) int {
		L.Push(lua.LString("null"))
		return 1
	}))
	return mt
}

func emptyArrayMeta() *lua.LTable {
	mt := protectedMeta("json.empty_array")
	mt.RawSetString("__tostring", goFunction(func(L *lua.LState) int {
		L.Push(lua.LString("[]"))
		return 1
	}))
	return mt
}

// SyntaxError is returned for malformed JSON; Offset is the byte position of the problem.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// MemoryError is returned when the Lua values decoded from a JSON text would take more memory
// than its budget: Expansion times the text's length (at least MinJSONBudget bytes).
type MemoryError struct {
	Text      int // the length of the text
	Budget    int // the bytes its values may take
	Expansion int // Config.MaxJSONExpansion
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("the JSON text of %d bytes would decode to more than %d bytes of Lua values (%d times its length: Config.MaxJSONExpansion)", e.Text, e.Budget, e.Expansion)
}

// DecodeJSON parses data into a Lua value, within the memory budget of DefaultJSONExpansion
// (see MemoryError). Tables are created with L's allocator, so the result belongs to L's run.
func DecodeJSON(L *lua.LState, data []byte) (lua.LValue, error) {
	v, _, err := decodeJSON(L, data, nil)
	return v, err
}

// DecodeJSONInterned is DecodeJSON with repeated keys and short strings shared through in, and
// in's memory budget (Interner.Expansion).
func DecodeJSONInterned(L *lua.LState, data []byte, in *Interner) (lua.LValue, error) {
	v, _, err := decodeJSON(L, data, in)
	return v, err
}

// DecodeJSONWithin is DecodeJSON with the memory budget expansion times the text's length
// (Config.MaxJSONExpansion; 0: DefaultJSONExpansion).
func DecodeJSONWithin(L *lua.LState, data []byte, expansion int) (lua.LValue, error) {
	v, _, err := decodeWithin(L, data, nil, expansion)
	return v, err
}

// decodeJSON is DecodeJSON that also reports whether an object had a key twice (so that the
// value does not describe the text exactly).
func decodeJSON(L *lua.LState, data []byte, in *Interner) (lua.LValue, bool, error) {
	return decodeWithin(L, data, in, in.expansion())
}

func decodeWithin(L *lua.LState, data []byte, in *Interner, expansion int) (lua.LValue, bool, error) {
	d := decoder{data: data, in: in}
	d.budget, d.expansion = jsonBudget(len(data), expansion)
	d.skipSpace()
	v, err := d.value(L, 0)
	if err != nil {
		return lua.LNil, false, err
	}
	d.skipSpace()
	if d.pos < len(d.data) {
		return lua.LNil, false, d.errorf("unexpected %q after the value", d.data[d.pos])
	}
	return v, d.dup, nil
}

type decoder struct {
	data      []byte
	pos       int
	scratch   []byte
	fixed     []byte // strings with invalid UTF-8, made valid
	dup       bool   // an object had a key twice (the last one wins)
	in        *Interner
	budget    int // bytes the values still to be made may take (see charge)
	expansion int // what the budget was computed with, for the error
}

// DefaultJSONExpansion is Config.MaxJSONExpansion's default: the values decoded from a JSON text
// may take 32 times its length in memory. Typical API documents take 10 to 20 times; a text of
// nothing but tiny containers ([{},{},...], [[],[],...]) more than 32.
const DefaultJSONExpansion = 32

// MinJSONBudget is the least memory budget of a decode, so that a short text of tiny containers
// still decodes.
const MinJSONBudget = 64 << 10

// jsonBudget returns the memory budget of decoding n bytes with the given expansion (0 or less:
// DefaultJSONExpansion), and the expansion used.
func jsonBudget(n, expansion int) (budget, used int) {
	if expansion <= 0 {
		expansion = DefaultJSONExpansion
	}
	if n > math.MaxInt/expansion {
		return math.MaxInt, expansion
	}
	return max(n*expansion, MinJSONBudget), expansion
}

// What decoded values cost in memory, charged against the budget before they are made (Go 1.2x
// size classes on 64-bit, gopher-lua v1.1's LTable; measured by TestJSONDecodeCostModel). A
// table's string keys live in three places (the map, gopher-lua's key list and its key index),
// and its first key makes two maps of at least one group each: a small object costs far more
// than its text.
const (
	costTable       = 96  // an LTable
	costSlot        = 16  // an interface value: an array slot
	costFirstKey    = 640 // a table's first string key: the key map (a hint of 4), the key index
	costSmallKey    = 40  // keys 2 to 8, which fit the maps' first group: the key list, the boxed key
	costNinthKey    = 700 // the 9th key: both maps grow from one group to a table of 16 slots
	costKey         = 160 // each key after the 9th: the maps' slots as they grow, the key list
	costHashElem    = 144 // an array element at MaxArrayIndex or beyond, which lives in the hash part
	costBoxedString = 16  // a string stored in an interface: its header
	costBoxedNumber = 8   // a number stored in an interface (0..1023 are preallocated)
)

// keyCost is what the nth key of an object costs.
func keyCost(n int) int {
	switch {
	case n == 1:
		return costFirstKey
	case n <= 8:
		return costSmallKey
	case n == 9:
		return costNinthKey
	}
	return costKey
}

// grownCap is the capacity append gives a full slice of capacity c (Go's growth rule, without
// the rounding up to a size class).
func grownCap(c int) int {
	if c < 256 {
		return 2 * c
	}
	return c + (c+3*256)/4
}

// charge takes n bytes from the budget, or fails when they are not there.
func (d *decoder) charge(n int) error {
	if d.budget -= n; d.budget < 0 {
		b, _ := jsonBudget(len(d.data), d.expansion)
		return &MemoryError{Text: len(d.data), Budget: b, Expansion: d.expansion}
	}
	return nil
}

// Interner keeps the object keys and short strings decoded recently, so that documents that
// repeat them (records of one table, the same API answering again) share one copy instead of
// allocating each. Keep one per goroutine (per state); it forgets everything when it is full.
type Interner struct {
	// Expansion is the memory budget of a decode through this Interner, as a multiple of the
	// text's length (Config.MaxJSONExpansion); 0 means DefaultJSONExpansion.
	Expansion int
	keys      map[string]string
	values    map[string]lua.LValue
}

const (
	internMax      = 4096 // entries per map before it is cleared
	internValueLen = 32   // longer strings are not interned
	internKeyLen   = 128  // longer keys are not interned: the maps hold 4096 entries of at most this
)

func (in *Interner) expansion() int {
	if in == nil {
		return 0
	}
	return in.Expansion
}

func (in *Interner) key(b []byte) string {
	if in == nil || len(b) > internKeyLen {
		return string(b)
	}
	if s, ok := in.keys[string(b)]; ok {
		return s
	}
	if in.keys == nil || len(in.keys) >= internMax {
		in.keys = make(map[string]string, 256)
	}
	s := string(b)
	in.keys[s] = s
	return s
}

func (in *Interner) value(b []byte) lua.LValue {
	if in == nil || len(b) > internValueLen {
		return lua.LString(b)
	}
	if v, ok := in.values[string(b)]; ok {
		return v
	}
	if in.values == nil || len(in.values) >= internMax {
		in.values = make(map[string]lua.LValue, 256)
	}
	s := string(b)
	v := lua.LValue(lua.LString(s))
	in.values[s] = v
	return v
}

// smallInts are the boxed values of the integers 0..1023, so decoding them allocates nothing.
var smallInts = func() (t [1024]lua.LValue) {
	for i := range t {
		t[i] = lua.LNumber(i)
	}
	return t
}()

func (d *decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value(L *lua.LState, depth int) (lua.LValue, error) {
	if d.pos >= len(d.data) {
		return lua.LNil, d.errorf("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		if depth >= MaxJSONDepth {
			return lua.LNil, d.errorf("nested deeper than %d", MaxJSONDepth)
		}
		return d.object(L, depth+1)
	case c == '[':
		if depth >= MaxJSONDepth {
			return lua.LNil, d.errorf("nested deeper than %d", MaxJSONDepth)
		}
		return d.array(L, depth+1)
	case c == '"':
		b, err := d.strBytes()
		if err != nil {
			return lua.LNil, err
		}
		if err := d.charge(costBoxedString + len(b)); err != nil {
			return lua.LNil, err
		}
		return d.in.value(b), nil
	case c == '-' || (c >= '0' && c <= '9'):
		f, err := d.number()
		if err != nil {
			return lua.LNil, err
		}
		if f >= 0 && f < float64(len(smallInts)) && f == float64(int(f)) {
			return smallInts[int(f)], nil
		}
		if err := d.charge(costBoxedNumber); err != nil {
			return lua.LNil, err
		}
		return lua.LNumber(f), nil
	case c == 't':
		return lua.LTrue, d.literal("true")
	case c == 'f':
		return lua.LFalse, d.literal("false")
	case c == 'n':
		return Null, d.literal("null")
	default:
		return lua.LNil, d.errorf("unexpected %q", c)
	}
}

func (d *decoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.errorf("invalid literal, expected %s", word)
	}
	d.pos += len(word)
	return nil
}

func (d *decoder) object(L *lua.LState, depth int) (lua.LValue, error) {
	d.pos++ // {
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		// No key map: a script that adds keys makes it, as for any table of its own.
		if err := d.charge(costTable); err != nil {
			return lua.LNil, err
		}
		return L.CreateTable(0, 0), nil
	}
	if err := d.charge(costTable); err != nil {
		return lua.LNil, err
	}
	tb := L.CreateTable(0, 4)
	for n := 1; ; n++ {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return lua.LNil, d.errorf("expected a string key")
		}
		kb, err := d.strBytes()
		if err != nil {
			return lua.LNil, err
		}
		if err := d.charge(keyCost(n) + len(kb)); err != nil {
			return lua.LNil, err
		}
		key := d.in.key(kb)
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return lua.LNil, d.errorf("expected ':' after an object key")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value(L, depth)
		if err != nil {
			return lua.LNil, err
		}
		if !d.dup && tb.RawGetString(key) != lua.LNil {
			d.dup = true
		}
		tb.RawSetString(key, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return lua.LNil, d.errorf("unexpected end of input in an object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return tb, nil
		default:
			return lua.LNil, d.errorf("expected ',' or '}' in an object")
		}
	}
}

func (d *decoder) array(L *lua.LState, depth int) (lua.LValue, error) {
	d.pos++ // [
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		if err := d.charge(costTable); err != nil {
			return lua.LNil, err
		}
		tb := L.CreateTable(0, 0)
		tb.Metatable = ArrayMeta
		return tb, nil
	}
	const initialCap = 4
	if err := d.charge(costTable + initialCap*costSlot); err != nil {
		return lua.LNil, err
	}
	tb := L.CreateTable(initialCap, 0)
	capacity := initialCap // of the array part, as append grows it
	for i := 1; ; i++ {
		d.skipSpace()
		v, err := d.value(L, depth)
		if err != nil {
			return lua.LNil, err
		}
		if i > capacity {
			if i < lua.MaxArrayIndex {
				grown := grownCap(capacity)
				err = d.charge((grown - capacity) * costSlot)
				capacity = grown
			} else {
				err = d.charge(costHashElem)
			}
			if err != nil {
				return lua.LNil, err
			}
		}
		tb.RawSetInt(i, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return lua.LNil, d.errorf("unexpected end of input in an array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return tb, nil
		default:
			return lua.LNil, d.errorf("expected ',' or ']' in an array")
		}
	}
}

// number scans a JSON number and returns its value.
func (d *decoder) number() (float64, error) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	intStart := d.pos
	if digits() == 0 {
		return 0, d.errorf("invalid number")
	}
	if d.data[intStart] == '0' && d.pos-intStart > 1 {
		d.pos = intStart
		return 0, d.errorf("invalid number: leading zero")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return 0, d.errorf("invalid number: no digits after '.'")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return 0, d.errorf("invalid number: no digits in the exponent")
		}
	}
	text := d.data[start:d.pos]
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, d.errorf("invalid number")
	}
	// Out of range numbers become ±Inf, which Lua can hold; they are rejected when encoded.
	return f, nil
}

// strBytes scans a string and returns its decoded bytes, which alias the input or the scratch
// buffer: valid only until the next call.
func (d *decoder) strBytes() ([]byte, error) {
	d.pos++ // opening quote
	start := d.pos
	var high byte // the bytes or'ed: bit 7 set when the string is not ASCII
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '"' {
			s := d.data[start:d.pos]
			d.pos++
			if high >= utf8.RuneSelf {
				return d.validUTF8(s), nil
			}
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, d.errorf("control character in a string")
		}
		high |= c
		d.pos++
	}
	if d.pos >= len(d.data) {
		return nil, d.errorf("unterminated string")
	}
	// Slow path: escapes.
	buf := append(d.scratch[:0], d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			d.scratch = buf
			if high >= utf8.RuneSelf {
				return d.validUTF8(buf), nil
			}
			return buf, nil
		case c < 0x20:
			return nil, d.errorf("control character in a string")
		case c != '\\':
			buf = append(buf, c)
			high |= c
			d.pos++
			continue
		}
		d.pos++
		if d.pos >= len(d.data) {
			break
		}
		e := d.data[d.pos]
		d.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return nil, d.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
					save := d.pos
					d.pos += 2
					var ok2 bool
					if r2, ok2 = d.hex4(); !ok2 {
						return nil, d.errorf("invalid \\u escape")
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
					} else {
						d.pos = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			d.pos--
			return nil, d.errorf("invalid escape \\%c", e)
		}
	}
	return nil, d.errorf("unterminated string")
}

// validUTF8 returns s with each byte that is not part of valid UTF-8 replaced by U+FFFD, as
// encoding/json decodes and as the encoder writes them: two keys that differ only in invalid
// bytes are one key, so a decoded document encodes without duplicate names.
func (d *decoder) validUTF8(s []byte) []byte {
	if utf8.Valid(s) {
		return s
	}
	buf := d.fixed[:0]
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, "\uFFFD"...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	d.fixed = buf
	return buf
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.data)-d.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r, true
}

// EqualJSON reports whether v is what data decodes to: the same structure, numbers, strings,
// booleans and nulls. It allocates nothing for ordinary documents and is how the bridge finds
// out whether a script changed a decoded body in place. Malformed data is never equal.
func EqualJSON(v lua.LValue, data []byte) bool {
	d := decoder{data: data}
	d.skipSpace()
	if !d.equal(v, 0) {
		return false
	}
	d.skipSpace()
	return d.pos == len(d.data)
}

func (d *decoder) equal(v lua.LValue, depth int) bool {
	if d.pos >= len(d.data) || depth > MaxJSONDepth {
		return false
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		tb, ok := v.(*lua.LTable)
		if !ok {
			return false
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

// Where a table keeps its integer keys. gopher-lua puts t[i] in the table's array part when
// 1 <= i < lua.MaxArrayIndex (2^20 once fastlua.New has run) and in its hash part otherwise,
// while table.insert (LTable.Append) grows the array part past that bound. RawGetInt, Len and
// MaxN see only the array part, and Next loses its way in an array part that reaches past the
// bound. A decoded array longer than 2^20-1 has its tail in the hash part, so everything the
// codec asks of a table (EqualJSON, tableLen, isArray, the encoder) goes through elem and
// tableLen, which see both parts: they agree on what an array is, whatever its length and
// wherever its elements live.

// elem returns tb's value at the integer key i, from whichever part of the table holds it
// (the array part first, as it is where table.insert puts elements).
func elem(tb *lua.LTable, i int) lua.LValue {
	if v := tb.RawGetInt(i); v != lua.LNil || i < lua.MaxArrayIndex {
		return v
	}
	return tb.RawGetH(lua.LNumber(i))
}

// tableLen counts the keys of a table that have a value; it is -1 when an integer key is held by
// both parts (table.insert on an array longer than MaxArrayIndex-1: # says it ends there, so
// the new element lands on a key the hash part holds), which has no JSON form. The array part
// is counted without walking it with Next, which would box every index.
func tableLen(tb *lua.LTable) int {
	border := tb.Len() // the last non-nil index of the array part
	n := border
	for i := border; i >= 1; i-- { // holes below the border
		if tb.RawGetInt(i) == lua.LNil {
			n--
		}
	}
	if border < lua.MaxArrayIndex {
		// Next from the border walks the rest of the array part (nils), then the hash part.
		var after lua.LValue = lua.LNil
		if border > 0 {
			after = lua.LNumber(border)
		}
		for k, _ := tb.Next(after); k != lua.LNil; k, _ = tb.Next(k) {
			n++
		}
		return n
	}
	// The array part reaches past MaxArrayIndex (table.insert grew it): Next cannot walk past
	// it, so count the hash part with ForEach, which visits the array part's n values first.
	// This boxes every index, but only for such tables.
	seen, arrayValues, twice := 0, n, false
	tb.ForEach(func(k, _ lua.LValue) {
		if seen++; seen <= arrayValues {
			return
		}
		if f, ok := k.(lua.LNumber); ok && f >= 1 && f <= lua.LNumber(border) && f == lua.LNumber(int(f)) && tb.RawGetInt(int(f)) != lua.LNil {
			twice = true
		}
		n++
	})
	if twice {
		return -1
	}
	return n
}

// entriesNeedForEach reports whether tb's array part reaches past MaxArrayIndex, where Next
// cannot walk it: its entries must then be listed with ForEach.
func entriesNeedForEach(tb *lua.LTable) bool { return tb.Len() >= lua.MaxArrayIndex }

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
	buf     []byte
	keys    [][]keyValue
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
		return AppendNumber(dst, float64(v))
	case lua.LString:
		if e.over(dst, string(v)) {
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
		return dst, &EncodeError{Msg: "a userdata value"}
	case *lua.LTable:
		if depth >= MaxJSONDepth {
			return dst, &EncodeError{Msg: fmt.Sprintf("tables nested deeper than %d (or a table that contains itself)", MaxJSONDepth)}
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
		if e.over(dst, kv.key) {
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
		s, err := AppendNumber(nil, float64(k))
		if err != nil {
			return kvs, &EncodeError{Msg: "a table key that is not a finite number"}
		}
		return append(kvs, keyValue{string(s), v}), nil
	default:
		return kvs, &EncodeError{Msg: "a table key of type " + k.Type().String()}
	}
}

// over reports whether appending s as a JSON string to dst passes Max. The exact length of its
// escaped form is counted only when six bytes a byte (\u00XX) could pass it.
func (e *Encoder) over(dst []byte, s string) bool {
	return e.Max > 0 && len(dst)+2+6*len(s) > e.Max && len(dst)+jsonStringSize(s) > e.Max
}

func (e *Encoder) tooLong() error {
	name := e.MaxName
	if name == "" {
		name = "Config.MaxJSONSize"
	}
	return &EncodeError{Msg: fmt.Sprintf("the JSON text would be more than %d bytes (%s)", e.Max, name), Limit: e.Max}
}

// isArray reports whether the n entries of tb are exactly the keys 1..n.
func isArray(tb *lua.LTable, n int) bool {
	for i := n; i >= 1; i-- {
		if elem(tb, i) == lua.LNil {
			return false
		}
	}
	return true
}

// AppendNumber appends f as a JSON number: integral values without a fraction or exponent
// (up to 1e21), others in the shortest form that reads back as the same float64.
func AppendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, &EncodeError{Msg: "NaN or an infinite number"}
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		if f == 0 {
			return append(dst, '0'), nil // also for -0
		}
		return strconv.AppendFloat(dst, f, 'f', -1, 64), nil
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
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
