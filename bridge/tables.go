package bridge

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// AsTable returns v as a plain table: v itself when it is a table; for one of the event's
// key/value objects (event.request.headers, event.request.parameters, event.response.headers),
// a snapshot of what it holds now, names to values (header names in lower case). lists: a name
// with repeated values maps to the list of them, so that writing the snapshot elsewhere
// (options.headers, a returned response's headers) carries every value as it came; otherwise
// to the values joined with ",", as reading the object gives them. It is how every place that
// takes a table takes the objects too.
func AsTable(v lua.LValue, lists bool) (*lua.LTable, bool) {
	switch v := v.(type) {
	case *lua.LTable:
		return v, true
	case *lua.LUserData:
		if o, ok := v.Value.(*kvObject); ok && o.ev.request != nil {
			return o.snapshot(lists), true
		}
	}
	return nil, false
}

// snapshot is AsTable for a kvObject.
func (o *kvObject) snapshot(lists bool) *lua.LTable {
	snap := &lua.LTable{Metatable: lua.LNil}
	for k, v := range o.store().All() {
		name := string(k)
		if o.kind != kvQuery {
			name = strings.ToLower(name)
		}
		switch prev := snap.RawGetString(name).(type) {
		case lua.LString:
			if lists {
				l := &lua.LTable{Metatable: lua.LNil}
				l.Append(prev)
				l.Append(lua.LString(v))
				snap.RawSetString(name, l)
			} else {
				snap.RawSetString(name, lua.LString(string(prev)+","+string(v)))
			}
		case *lua.LTable:
			prev.Append(lua.LString(v))
		default:
			snap.RawSetString(name, lua.LString(v))
		}
	}
	return snap
}
