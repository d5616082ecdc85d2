package fastlua

import (
	"fmt"
	"reflect"

	lua "github.com/yuin/gopher-lua"
	luar "layeh.com/gopher-luar"
)

// Read-only Go values: platform.config and session values bridged with gopher-luar, wrapped so
// a script can read but never write them (luar is slow but these are rarely touched).

// readOnlyGo bridges a Go value with gopher-luar and wraps what luar makes (maps, slices,
// structs, pointers) in a proxy that refuses writes, also for the values read through it.
// platform.config and platform.session are always tables: a value that bridges to none (nil,
// a nil pointer or map, a value tableLike refuses) gives the state's empty read-only table of
// that name, so platform.session.user is nil, not an error.
func (st *state) readOnlyGo(L *lua.LState, name string, v any) lua.LValue {
	if tableLike(v) == nil && v != nil {
		if ud, ok := luar.New(L, v).(*lua.LUserData); ok {
			return st.wrapReadOnly(L, name, ud)
		}
	}
	return st.emptyReadOnly(L, name)
}

// emptyReadOnly is the state's empty read-only table called name, made once: it holds
// nothing and refuses writes, so every request can share it.
func (st *state) emptyReadOnly(L *lua.LState, name string) lua.LValue {
	if e, ok := st.emptyRO[name]; ok {
		return e
	}
	if st.emptyRO == nil {
		st.emptyRO = make(map[string]lua.LValue, 2)
	}
	e := st.wrapReadOnly(L, name, luar.New(L, map[string]any{}))
	st.emptyRO[name] = e
	return e
}

// tableLike reports why v cannot be read as a table by scripts, or nil when it can: nil, a
// map, a struct, a slice or an array, or a pointer or interface to one. A Lua value is
// refused (made elsewhere, it could be shared and written), and so are scalars and functions.
func tableLike(v any) error {
	if _, isLua := v.(lua.LValue); isLua {
		return fmt.Errorf("a Lua value (%T), not a Go value", v)
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Invalid, reflect.Map, reflect.Struct, reflect.Slice, reflect.Array:
		return nil
	}
	return fmt.Errorf("a %T, not a map, a struct, a slice or a pointer to one", v)
}

func (st *state) wrapReadOnly(L *lua.LState, name string, v lua.LValue) lua.LValue {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return v // strings, numbers, booleans; functions from func values
	}
	proxy := L.NewUserData()
	proxy.Value = roValue{name: name, ud: ud}
	proxy.Metatable = st.roMeta
	return proxy
}

type roValue struct {
	name string
	ud   *lua.LUserData
}

// newROMeta is the metatable of read-only Go values.
func (st *state) newROMeta(L *lua.LState) *lua.LTable {
	get := func(L *lua.LState) roValue { return L.CheckUserData(1).Value.(roValue) }
	mt := L.CreateTable(0, 7)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		ro := get(L)
		L.Push(st.wrapReadOnly(L, ro.name, L.GetTable(ro.ud, L.Get(2))))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s is read-only", get(L).name)
		return 0
	}))
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(L.ObjLen(get(L).ud)))
		return 1
	}))
	// pairs over maps and slices, through luar's iterator (its __call), wrapping the values.
	mt.RawSetString("__pairs", L.NewFunction(func(L *lua.LState) int {
		ro := get(L)
		if mt, ok := ro.ud.Metatable.(*lua.LTable); !ok || mt.RawGetString("__call") == lua.LNil {
			L.RaiseError("%s: pairs works on maps and slices only", ro.name)
		}
		L.Push(ro.ud)
		L.Call(0, 1)
		it := L.Get(-1)
		L.Pop(1)
		L.Push(L.NewFunction(func(L *lua.LState) int {
			L.Push(it)
			L.Call(0, 2)
			k, v := L.Get(-2), L.Get(-1)
			L.Pop(2)
			if k == lua.LNil {
				return 0
			}
			L.Push(k)
			L.Push(st.wrapReadOnly(L, ro.name, v))
			return 2
		}))
		L.Push(lua.LNil)
		L.Push(lua.LNil)
		return 3
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(get(L).name))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("read-only"))
	return mt
}
