package fastluatest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// show writes a Lua value for a message: strings quoted, tables as {k = v, ...} with sorted
// keys (to a bounded depth and length).
func show(v lua.LValue) string {
	var b strings.Builder
	writeValue(&b, v, 0)
	s := b.String()
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}

func writeValue(b *strings.Builder, v lua.LValue, depth int) {
	switch x := v.(type) {
	case lua.LString:
		b.WriteString(strconv.Quote(string(x)))
	case *lua.LTable:
		if depth > 8 {
			b.WriteString("{...}")
			return
		}
		keys := tableKeys(x)
		n := x.Len()
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			if kn, ok := k.(lua.LNumber); !ok || float64(kn) != float64(int(kn)) || int(kn) < 1 || int(kn) > n {
				if ks, ok := k.(lua.LString); ok && isIdent(string(ks)) {
					b.WriteString(string(ks))
				} else {
					b.WriteByte('[')
					writeValue(b, k, depth+1)
					b.WriteByte(']')
				}
				b.WriteString(" = ")
			}
			writeValue(b, x.RawGet(k), depth+1)
		}
		b.WriteByte('}')
	default:
		switch v {
		case bridge.Null:
			b.WriteString("json.null")
		case bridge.EmptyArray:
			b.WriteString("json.empty_array")
		default:
			b.WriteString(v.String())
		}
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// tableKeys returns a table's keys: the array part in order, then the others sorted by
// their text.
func tableKeys(t *lua.LTable) []lua.LValue {
	var nums, others []lua.LValue
	n := t.Len()
	t.ForEach(func(k, _ lua.LValue) {
		if kn, ok := k.(lua.LNumber); ok && float64(kn) == float64(int(kn)) && int(kn) >= 1 && int(kn) <= n {
			nums = append(nums, k)
		} else {
			others = append(others, k)
		}
	})
	sort.Slice(nums, func(i, j int) bool { return nums[i].(lua.LNumber) < nums[j].(lua.LNumber) })
	sort.Slice(others, func(i, j int) bool { return others[i].String() < others[j].String() })
	return append(nums, others...)
}

// difference is where two values differ, and what each holds there.
type difference struct {
	path     string
	exp, act lua.LValue
}

// same reports whether a and b are equal, tables compared deeply, and where they differ.
func same(a, b lua.LValue, path string) (difference, bool) {
	ta, okA := a.(*lua.LTable)
	tb, okB := b.(*lua.LTable)
	if !okA || !okB {
		return difference{path, a, b}, a == b
	}
	if ta == tb {
		return difference{}, true
	}
	keys := tableKeys(ta)
	for _, k := range tableKeys(tb) {
		if ta.RawGet(k) == lua.LNil {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		p := path + "[" + show(k) + "]"
		if ks, ok := k.(lua.LString); ok && isIdent(string(ks)) {
			p = path + "." + string(ks)
		}
		if where, ok := same(ta.RawGet(k), tb.RawGet(k), p); !ok {
			return where, false
		}
	}
	return difference{}, true
}

// toGo converts a Lua value to Go: tables with keys 1..n to []any, other tables to
// map[string]any, numbers to float64.
func toGo(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return float64(x)
	case lua.LBool:
		return bool(x)
	case *lua.LTable:
		n := x.Len()
		count := 0
		x.ForEach(func(_, _ lua.LValue) { count++ })
		if n > 0 && count == n {
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				out = append(out, toGo(x.RawGetInt(i)))
			}
			return out
		}
		out := map[string]any{}
		x.ForEach(func(k, val lua.LValue) { out[lua.LVAsString(k)] = toGo(val) })
		return out
	case *lua.LNilType:
		return nil
	default:
		return fmt.Sprint(v)
	}
}

// toLua converts what encoding/json decodes to Lua.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case bool:
		return lua.LBool(x)
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case map[string]string:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, lua.LString(e))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(v))
	}
}
