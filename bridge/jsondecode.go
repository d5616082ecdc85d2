package bridge

// The JSON decoder: one pass over the text that builds Lua values as it goes, each charged
// against a memory budget proportional to the text before it is made (and, every MiB, the run's
// context checked, so the time limit and the memory guard stop a long decode); object keys and
// short strings are shared through an Interner kept per state.

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// SyntaxError is returned for malformed JSON; Offset is the byte position of the problem.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error returns the error's text.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// memoryError is returned when the Lua values decoded from a JSON text would take more memory
// than its budget: Expansion times the text's length (at least minJSONBudget bytes).
type memoryError struct {
	Text      int // the length of the text
	Budget    int // the bytes its values may take
	Expansion int // Config.MaxJSONExpansion
}

func (e *memoryError) Error() string {
	return fmt.Sprintf("the JSON text of %d bytes would decode to more than %d bytes of Lua values (%d times its length: Config.MaxJSONExpansion)", e.Text, e.Budget, e.Expansion)
}

// DecodeJSON parses data into a Lua value, within the memory budget of DefaultJSONExpansion
// (see memoryError). Tables are created with L's allocator, so the result belongs to L's run.
func DecodeJSON(L *lua.LState, data []byte) (lua.LValue, error) {
	v, _, err := decodeJSON(L, data, nil)
	return v, err
}

// decodeJSONInterned is DecodeJSON with repeated keys and short strings shared through in, and
// in's memory budget and stop check (Interner.Expansion, Interner.Check).
func decodeJSONInterned(L *lua.LState, data []byte, in *Interner) (lua.LValue, error) {
	v, _, err := decodeJSON(L, data, in)
	return v, err
}

// DecodeJSONInto is decodeJSONInterned that fills into, an empty table with no metatable, when
// the text is an object (and returns into); for any other text into is left alone. On an error
// into may hold some of the keys.
func DecodeJSONInto(L *lua.LState, data []byte, in *Interner, into *lua.LTable) (lua.LValue, error) {
	v, _, err := decodeJSONInto(L, data, in, into)
	return v, err
}

// decodeJSON is DecodeJSON that also reports whether an object had a key twice (so that the
// value does not describe the text exactly).
func decodeJSON(L *lua.LState, data []byte, in *Interner) (lua.LValue, bool, error) {
	return decodeJSONInto(L, data, in, nil)
}

func decodeJSONInto(L *lua.LState, data []byte, in *Interner, into *lua.LTable) (lua.LValue, bool, error) {
	d := decoder{data: data, in: in}
	if in != nil && in.Check != nil {
		d.stop = in.Check
	} else if ctx := L.Context(); ctx != nil {
		d.stop = ctx.Err
	}
	d.budget, d.expansion = jsonBudget(len(data), in.expansion())
	d.checkAt = max(d.budget-checkEvery, 0)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '{' {
		d.into = into // the first object made is the top-level one
	}
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
	into      *lua.LTable // the table the next object fills instead of a new one
	budget    int         // bytes the values still to be made may take (see charge)
	checkAt   int         // the budget left at which charge next calls stop (or fails, at 0)
	expansion int         // what the budget was computed with, for the error
	stop      func() error
	lz        *lazyState // set: objects are decoded as lazy objects of doc (jsonlazy.go)
	doc       *lazyDoc
}

// checkEvery is how much memory a decode charges between two calls of Interner.Check (or of
// its state's context's Err).
const checkEvery = 1 << 20

// DefaultJSONExpansion is Config.MaxJSONExpansion's default: the values decoded from a JSON text
// may take 32 times its length in memory. Typical API documents take 10 to 20 times; a text of
// nothing but tiny containers ([{},{},...], [[],[],...]) more than 32.
const DefaultJSONExpansion = 32

// minJSONBudget is the least memory budget of a decode, so that a short text of tiny containers
// still decodes.
const minJSONBudget = 64 << 10

// jsonBudget returns the memory budget of decoding n bytes with the given expansion (0 or less:
// DefaultJSONExpansion), and the expansion used.
func jsonBudget(n, expansion int) (budget, used int) {
	if expansion <= 0 {
		expansion = DefaultJSONExpansion
	}
	if n > math.MaxInt/expansion {
		return math.MaxInt, expansion
	}
	return max(n*expansion, minJSONBudget), expansion
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

// charge takes n bytes from the budget, or fails when they are not there, or when the run was
// stopped (Interner.Check, or L's context: its time limit, the memory guard).
func (d *decoder) charge(n int) error {
	if d.budget -= n; d.budget < d.checkAt {
		return d.checkpoint()
	}
	return nil
}

func (d *decoder) checkpoint() error {
	if d.budget < 0 {
		b, _ := jsonBudget(len(d.data), d.expansion)
		return &memoryError{Text: len(d.data), Budget: b, Expansion: d.expansion}
	}
	d.checkAt = max(d.budget-checkEvery, 0)
	if d.stop != nil {
		if err := d.stop(); err != nil {
			return fmt.Errorf("decoding JSON was stopped: %w", err)
		}
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
	// Check, when set, is called each time a decode has charged another MiB; an error stops
	// the decode (the run's time limit or memory guard). Unset, L's context is checked.
	Check  func() error
	keys   map[string]string
	values map[string]lua.LValue
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

// Key returns b as a string, shared with the keys decoded before (a nil Interner copies it).
func (in *Interner) Key(b []byte) string { return in.key(b) }

// Value returns b as a Lua string, boxed once for the short strings decoded before (a nil
// Interner boxes it anew).
func (in *Interner) Value(b []byte) lua.LValue { return in.value(b) }

// Number returns n as a Lua number, boxed once for 0..1023 as the decoder's integers are.
func Number(n int) lua.LValue {
	if n >= 0 && n < len(smallInts) {
		return smallInts[n]
	}
	return lua.LNumber(n)
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
		if depth >= maxJSONDepth {
			return lua.LNil, d.errorf("nested deeper than %d", maxJSONDepth)
		}
		if d.lz != nil {
			return d.newObject(L, depth)
		}
		return d.object(L, depth+1)
	case c == '[':
		if depth >= maxJSONDepth {
			return lua.LNil, d.errorf("nested deeper than %d", maxJSONDepth)
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
	into := d.into
	d.into = nil
	d.pos++ // {
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		// No key map: a script that adds keys makes it, as for any table of its own.
		if err := d.charge(costTable); err != nil {
			return lua.LNil, err
		}
		if into != nil {
			return into, nil
		}
		return L.CreateTable(0, 0), nil
	}
	if err := d.charge(costTable); err != nil {
		return lua.LNil, err
	}
	tb := into
	if tb == nil {
		tb = L.CreateTable(0, 4)
	}
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
