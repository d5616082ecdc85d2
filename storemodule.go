package fastlua

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// The platform.store module: get, set, incr, delete over Config.Store, with values encoded as
// JSON within Config.MaxStoreValue.

// newStoreModule is platform.store: get, set, incr, delete on Config.Store. Keys and values
// are bounded here (Config.MaxStoreKey, Config.MaxStoreValue), before the store is called, so
// every Store is bounded; a broken bound, or a full store, is a limit error.
func (st *state) newStoreModule(L *lua.LState) *lua.LTable {
	m := st.m
	ctx := func() (context.Context, context.CancelFunc) {
		if _, inProcess := m.store.(*MemoryStore); inProcess {
			return context.Background(), func() {}
		}
		left, ok := st.timeLeft()
		if !ok {
			left = m.cfg.HTTPTimeout
		}
		return context.WithTimeout(context.Background(), left)
	}
	fail := func(L *lua.LState, op string, err error) {
		if d, limited := st.runDeadline(); limited && st.pastDeadline(d) {
			st.outOfTime(L, "platform.store."+op) // the store call used up the script's time
		}
		if errors.Is(err, ErrStoreFull) || errors.Is(err, ErrKeyTooLong) || errors.Is(err, ErrValueTooLarge) {
			st.raiseLimit(L, "platform.store.%s: %s", op, err.Error())
		}
		L.RaiseError("platform.store.%s: %s", op, err.Error())
	}
	keyArg := func(L *lua.LState, op string) string {
		key := L.CheckString(1)
		if len(key) > m.cfg.MaxStoreKey {
			fail(L, op, keyTooLong(len(key), m.cfg.MaxStoreKey, "Config.MaxStoreKey"))
		}
		return key
	}
	ttlArg := func(L *lua.LState, n int) time.Duration {
		secs := L.OptNumber(n, 0)
		return time.Duration(float64(secs) * float64(time.Second))
	}
	mod := L.CreateTable(0, 4)
	mod.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "get")
		c, cancel := ctx()
		defer cancel()
		v, ok, err := m.store.Get(c, key)
		if err != nil {
			fail(L, "get", err)
		}
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		lv, err := fromStore(L, v)
		if err != nil {
			fail(L, "get", err)
		}
		L.Push(lv)
		return 1
	}))
	mod.RawSetString("set", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "set")
		v, err := toStore(&st.enc, L.CheckAny(2), m.cfg.MaxStoreValue)
		if errors.Is(err, ErrValueTooLarge) {
			fail(L, "set", err)
		}
		if err != nil {
			L.ArgError(2, err.Error())
		}
		c, cancel := ctx()
		defer cancel()
		if err := m.store.Set(c, key, v, ttlArg(L, 3)); err != nil {
			fail(L, "set", err)
		}
		return 0
	}))
	mod.RawSetString("incr", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "incr")
		by := float64(L.OptNumber(2, 1))
		c, cancel := ctx()
		defer cancel()
		n, err := m.store.Incr(c, key, by, ttlArg(L, 3))
		if err != nil {
			fail(L, "incr", err)
		}
		L.Push(lua.LNumber(n))
		return 1
	}))
	mod.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "delete")
		c, cancel := ctx()
		defer cancel()
		if err := m.store.Delete(c, key); err != nil {
			fail(L, "delete", err)
		}
		return 0
	}))
	return st.readOnly(L, "platform.store", mod)
}

// toStore converts a Lua value for a Store; a string or a table's JSON longer than maxValue is
// an ErrValueTooLarge (Config.MaxStoreValue).
func toStore(enc *bridge.Encoder, v lua.LValue, maxValue int) (any, error) {
	switch v := v.(type) {
	case lua.LString:
		if len(v) > maxValue {
			return nil, valueTooLarge(len(v), maxValue, "Config.MaxStoreValue")
		}
		return string(v), nil
	case lua.LNumber:
		return float64(v), nil
	case lua.LBool:
		return bool(v), nil
	case *lua.LTable:
		// The encoder stops at the value limit, before it has written more.
		max, name := enc.Max, enc.MaxName
		if max <= 0 || maxValue < max {
			enc.Max, enc.MaxName = maxValue, "Config.MaxStoreValue"
		}
		b, err := enc.Encode(v)
		enc.Max, enc.MaxName = max, name
		if ee, ok := err.(*bridge.EncodeError); ok && ee.Limit == maxValue {
			return nil, fmt.Errorf("%w: its JSON is larger than %s (Config.MaxStoreValue)", ErrValueTooLarge, sizeText(int64(maxValue)))
		}
		if err != nil {
			return nil, err
		}
		if len(b) > maxValue {
			return nil, valueTooLarge(len(b), maxValue, "Config.MaxStoreValue")
		}
		return JSON(append([]byte(nil), b...)), nil
	}
	return nil, fmt.Errorf("a stored value must be a string, number, boolean or table, not %s", v.Type())
}

// fromStore converts a stored value back to Lua.
func fromStore(L *lua.LState, v any) (lua.LValue, error) {
	switch v := v.(type) {
	case string:
		return lua.LString(v), nil
	case float64:
		return lua.LNumber(v), nil
	case bool:
		return lua.LBool(v), nil
	case JSON:
		return bridge.DecodeJSON(L, v)
	}
	return lua.LNil, fmt.Errorf("the store returned a %T", v)
}
