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
// maxJSON bounds the text json.encode produces (0: no bound).
func NewJSONModule(L *lua.LState, maxJSON int) *lua.LTable {
	enc := Encoder{Max: maxJSON}
	var in Interner
	mod := L.CreateTable(0, 5)
	mod.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		b, err := enc.Encode(L.CheckAny(1))
		if err != nil {
			L.RaiseError("json.encode: %s", err.Error())
		}
		L.Push(lua.LString(b))
		return 1
	}))
	mod.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		v, err := DecodeJSONInterned(L, []byte(s), &in)
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
