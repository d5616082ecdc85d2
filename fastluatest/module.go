package fastluatest

import (
	"context"
	"encoding/json"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// newModule is the fastlua table of the test API.
func (h *harness) newModule(L *lua.LState, chunk string) *lua.LTable {
	mod := L.NewTable()
	fn := func(name string, f lua.LGFunction) { mod.RawSetString(name, L.NewFunction(f)) }
	fn("request", h.request)
	fn("handler", func(L *lua.LState) int {
		h.handler = L.OptFunction(1, nil)
		return 0
	})
	fn("handler_calls", func(L *lua.LState) int {
		h.mu.Lock()
		calls := append([]map[string]any(nil), h.calls...)
		h.mu.Unlock()
		t := L.CreateTable(len(calls), 0)
		for _, c := range calls {
			t.Append(toLua(L, c))
		}
		L.Push(t)
		return 1
	})
	fn("http", func(L *lua.LState) int {
		prefix := L.CheckString(1)
		resp := L.CheckAny(2)
		switch resp.(type) {
		case *lua.LTable, *lua.LFunction:
		default:
			L.ArgError(2, "want {status_code, headers, content} or a function returning it")
		}
		h.stubs = append(h.stubs, stub{prefix: prefix, response: resp})
		return 0
	})
	fn("config", func(L *lua.LState) int {
		h.config = toGo(L.CheckTable(1))
		return 0
	})
	fn("session", func(L *lua.LState) int {
		h.session, h.hasSession = toGo(L.CheckTable(1)), true
		return 0
	})
	fn("prefix", func(L *lua.LState) int {
		h.prefix = L.CheckString(1)
		return 0
	})
	fn("clock", func(L *lua.LState) int {
		sec := float64(L.CheckNumber(1))
		at := time.Unix(0, int64(sec*1e9)).UTC()
		h.clock = &at
		return 0
	})
	fn("logs", func(L *lua.LState) int {
		h.mu.Lock()
		logs := append([]logRecord(nil), h.logs...)
		h.mu.Unlock()
		t := L.CreateTable(len(logs), 0)
		for _, r := range logs {
			e := L.NewTable()
			e.RawSetString("level", lua.LString(levelName(r.level)))
			e.RawSetString("message", lua.LString(r.message))
			e.RawSetString("script", lua.LString(r.script))
			fields := L.NewTable()
			for k, v := range r.fields {
				fields.RawSetString(k, toLua(L, jsonish(v)))
			}
			e.RawSetString("fields", fields)
			t.Append(e)
		}
		L.Push(t)
		return 1
	})
	mod.RawSetString("store", h.storeTable(L))
	return mod
}

func levelName(l interface{ String() string }) string {
	switch s := l.String(); s {
	case "DEBUG":
		return "debug"
	case "INFO":
		return "info"
	case "WARN":
		return "warn"
	case "ERROR":
		return "error"
	default:
		return s
	}
}

// jsonish makes a log attribute's value one toLua converts: through JSON when it is not a
// plain value.
func jsonish(v any) any {
	switch x := v.(type) {
	case string, float64, bool, nil:
		return x
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case uint64:
		return float64(x)
	case time.Duration:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// storeTable is fastlua.store: the test's store, as platform.store sees it.
func (h *harness) storeTable(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	ctx := context.Background()
	ttl := func(L *lua.LState, n int) time.Duration {
		return time.Duration(float64(L.OptNumber(n, 0)) * float64(time.Second))
	}
	t.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		v, ok, err := h.store.Get(ctx, L.CheckString(1))
		if err != nil {
			L.RaiseError("fastlua.store.get: %v", err)
		}
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		switch x := v.(type) {
		case fastlua.JSON:
			d, err := bridge.DecodeJSON(L, x)
			if err != nil {
				L.RaiseError("fastlua.store.get: %v", err)
			}
			L.Push(d)
		default:
			L.Push(toLua(L, jsonish(x)))
		}
		return 1
	}))
	t.RawSetString("set", L.NewFunction(func(L *lua.LState) int {
		key, val := L.CheckString(1), L.CheckAny(2)
		var v any
		switch x := val.(type) {
		case *lua.LTable:
			var enc bridge.Encoder
			b, err := enc.Encode(x)
			if err != nil {
				L.RaiseError("fastlua.store.set: %v", err)
			}
			v = fastlua.JSON(append([]byte(nil), b...))
		case lua.LNumber:
			v = float64(x)
		case lua.LString:
			v = string(x)
		case lua.LBool:
			v = bool(x)
		default:
			L.ArgError(2, "want a string, number, boolean or table")
		}
		if err := h.store.Set(ctx, key, v, ttl(L, 3)); err != nil {
			L.RaiseError("fastlua.store.set: %v", err)
		}
		return 0
	}))
	t.RawSetString("incr", L.NewFunction(func(L *lua.LState) int {
		n, err := h.store.Incr(ctx, L.CheckString(1), float64(L.OptNumber(2, 1)), ttl(L, 3))
		if err != nil {
			L.RaiseError("fastlua.store.incr: %v", err)
		}
		L.Push(lua.LNumber(n))
		return 1
	}))
	t.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		if err := h.store.Delete(ctx, L.CheckString(1)); err != nil {
			L.RaiseError("fastlua.store.delete: %v", err)
		}
		return 0
	}))
	return t
}
