package bridge

import (
	lua "github.com/yuin/gopher-lua"
)

// NewJSONModule returns the json module for L:
//
//	json.encode(value)   -> string (tables with keys 1..n are arrays; object keys sorted)
//	json.decode(string)  -> value  (an error names the byte offset of the problem)
//	json.null            -> the value JSON null decodes to, and encodes as null
//	json.empty_array     -> a value that encodes as []
//	json.array(t)        -> t, marked to encode as an array even when empty
//
// Numbers are Lua numbers (float64): integers beyond 2^53 are rounded to the nearest float.
// Bytes that are not valid UTF-8 decode as U+FFFD, one each, as in encoding/json.
//
// maxJSON bounds the text json.encode produces (0: no bound): its exact length is counted before
// the text is made.
//
// json.decode decodes through in (nil: a new Interner), whose Expansion and Check bound it.
func NewJSONModule(L *lua.LState, maxJSON int, in *Interner) *lua.LTable {
	enc := Encoder{Max: maxJSON}
	if in == nil {
		in = &Interner{}
	}
	mod := L.CreateTable(0, 5)
	mod.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		v := L.CheckAny(1)
		if maxJSON > 0 && jsonSize(v, maxJSON, 0) > maxJSON {
			// Refused before anything is written: a string's escapes can make its JSON six
			// times as long as the string.
			L.RaiseError("json.encode: %s", enc.tooLong().Error())
		}
		b, err := enc.Encode(v)
		if err != nil {
			L.RaiseError("json.encode: %s", err.Error())
		}
		L.Push(lua.LString(b))
		return 1
	}))
	mod.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		v, err := decodeJSONInterned(L, []byte(s), in)
		if err != nil {
			L.RaiseError("json.decode: %s", err.Error())
		}
		L.Push(v)
		return 1
	}))
	mod.RawSetString("array", L.NewFunction(func(L *lua.LState) int {
		tb := L.OptTable(1, nil)
		if tb == nil {
			tb = L.CreateTable(0, 0)
		}
		if tb.Metatable != lua.LNil && tb.Metatable != ArrayMeta {
			L.ArgError(1, "the table already has a metatable")
		}
		tb.Metatable = ArrayMeta
		L.Push(tb)
		return 1
	}))
	mod.RawSetString("null", Null)
	mod.RawSetString("empty_array", EmptyArray)
	return mod
}

// jsonSize returns the length of the JSON text Encoder writes for v, or a number above limit as
// soon as it passes it. Values the encoder refuses count as nothing: it reports them itself.
func jsonSize(v lua.LValue, limit, depth int) int {
	switch v := v.(type) {
	case *lua.LNilType:
		return 4
	case lua.LBool:
		if v {
			return 4
		}
		return 5
	case lua.LNumber:
		var b [32]byte
		n, _ := appendNumber(b[:0], float64(v))
		return len(n)
	case lua.LString:
		return jsonStringSize(string(v))
	case *lua.LUserData:
		if v == EmptyArray {
			return 2
		}
		return 4
	case *lua.LTable:
		if depth >= maxJSONDepth {
			return 0
		}
		if materializeValue(v) != nil {
			return 0 // the encoder reports it
		}
		n := tableLen(v)
		if n == 0 {
			return 2
		}
		total := 1 // [ or {
		if isArray(v, n) {
			for i := 1; i <= n && total <= limit; i++ {
				total += 1 + jsonSize(v.RawGetInt(i), limit-total, depth+1) // a comma or the ]
			}
			return total
		}
		for k, val := v.Next(lua.LNil); k != lua.LNil && total <= limit; k, val = v.Next(k) {
			switch k := k.(type) {
			case lua.LString:
				total += jsonStringSize(string(k))
			case lua.LNumber:
				var b [32]byte
				n, _ := appendNumber(b[:0], float64(k))
				total += len(n) + 2
			}
			total += 2 + jsonSize(val, limit-total, depth+1) // the colon, a comma or the }
		}
		return total
	}
	return 0
}
