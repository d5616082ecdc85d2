package bridge

// The values the JSON codec shares: json.null, json.empty_array and the array marker, the
// mapping between JSON and Lua, and how a table's integer keys are read whichever part of the
// table holds them (elem, tableLen, isArray), so that decoder, encoder and equalJSON agree.

import (
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
// NaN, infinities, functions, other userdata and tables nested deeper than maxJSONDepth (cycles)
// are errors.

// maxJSONDepth bounds the nesting of arrays and objects in both directions. It also stops cycles.
const maxJSONDepth = 200

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

// Where a table keeps its integer keys. gopher-lua puts t[i] in the table's array part when
// 1 <= i < lua.MaxArrayIndex (2^20 once fastlua.New has run) and in its hash part otherwise,
// while table.insert (LTable.Append) grows the array part past that bound. RawGetInt, Len and
// MaxN see only the array part, and Next loses its way in an array part that reaches past the
// bound. A decoded array longer than 2^20-1 has its tail in the hash part, so everything the
// codec asks of a table (equalJSON, tableLen, isArray, the encoder) goes through elem and
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

// isArray reports whether the n entries of tb are exactly the keys 1..n.
func isArray(tb *lua.LTable, n int) bool {
	for i := n; i >= 1; i-- {
		if elem(tb, i) == lua.LNil {
			return false
		}
	}
	return true
}
