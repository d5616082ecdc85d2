package fastlua

import (
	lua "github.com/yuin/gopher-lua"
	luar "layeh.com/gopher-luar"
)

// Read-only Go values: platform.config and session values bridged with gopher-luar, wrapped so
// a script can read but never write them (luar is slow but these are rarely touched).

// readOnlyGo bridges a Go value with gopher-luar and wraps what luar makes (maps, slices,
// structs, pointers) in a proxy that refuses writes, also for the values read through it.
func (st *state) readOnlyGo(L *lua.LState, name string, v any) lua.LValue {
	if v == nil {
		return lua.LNil
	}
	if _, isLua := v.(lua.LValue); isLua {
		// A Lua value made elsewhere could be shared and written: refuse it.
		return lua.LNil
	}
	return st.wrapReadOnly(L, name, luar.New(L, v))
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
