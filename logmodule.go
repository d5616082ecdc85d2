package fastlua

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// The log module and print: records go to Config.Logger with the script, event and request
// attached, within a per-run budget of records and bytes (a script cannot flood the log).

// logAttrs names the running script and event, and the request (requestAttrs), for log records.
func (st *state) logAttrs() []any {
	if st.depth == 0 {
		return nil
	}
	lv := st.levels[st.depth-1]
	attrs := make([]any, 0, 6)
	if lv.script != nil {
		attrs = append(attrs, slog.String("script", lv.script.Name))
	}
	if lv.x != nil {
		attrs = append(attrs, slog.String("event", lv.x.Name()))
		attrs = lv.x.requestAttrs(attrs)
	}
	return attrs
}

// newLogModule is log.debug|info|warn|error(message, fields): a record in Config.Logger with
// the script and event, and the fields table as attributes.
func (st *state) newLogModule(L *lua.LState) *lua.LTable {
	mod := L.CreateTable(0, 4)
	for name, level := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		mod.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			if !st.mayLog() {
				return 0
			}
			msg := st.logText(toText(L, L.CheckAny(1)))
			attrs := st.logAttrs()
			if fields := L.OptTable(2, nil); fields != nil {
				fields.ForEach(func(k, v lua.LValue) {
					if st.logged >= st.m.cfg.MaxLogSize {
						return // the budget is spent: the remaining fields go
					}
					var val any
					switch v := v.(type) {
					case lua.LNumber:
						val = float64(v)
					case lua.LBool:
						val = bool(v)
					case *lua.LTable:
						// Encoded up to the log budget left, no further.
						left := st.m.cfg.MaxLogSize - st.logged
						max := st.enc.Max
						if max <= 0 || left < max {
							st.enc.Max = left
						}
						b, err := st.enc.Encode(v)
						st.enc.Max = max
						switch ee, _ := err.(*bridge.EncodeError); {
						case err == nil:
							val = string(b)
						case ee != nil && ee.Limit == left:
							val = fmt.Sprintf("[a table whose JSON is more than the %d bytes left of Config.MaxLogSize]", left)
						default:
							val = v.String()
						}
					default:
						val = toText(L, v)
					}
					if s, ok := val.(string); ok {
						val = st.logText(s)
					}
					attrs = append(attrs, slog.Any(st.logText(lua.LVAsString(k)), val))
				})
			}
			st.m.logger.Log(context.Background(), level, msg, attrs...)
			return 0
		}))
	}
	return st.readOnly(L, "log", mod)
}

// print writes its arguments, separated by tabs, to the log at info level.
func (st *state) print(L *lua.LState) int {
	if !st.mayLog() {
		return 0
	}
	n := L.GetTop()
	var b strings.Builder
	for i := 1; i <= n && b.Len() <= st.m.cfg.MaxLogSize; i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(toText(L, L.Get(i)))
	}
	st.m.logger.Info(st.logText(b.String()), st.logAttrs()...)
	return 0
}

// mayLog reports whether the run has log budget left (Config.MaxLogSize). The first time it
// has not, it logs that the rest of the run's records are dropped.
func (st *state) mayLog() bool {
	max := st.m.cfg.MaxLogSize
	if st.logged < max {
		return true
	}
	if st.logged == max {
		st.logged++ // once
		st.m.logger.Warn(fmt.Sprintf("fastlua: the script logged %d bytes, its limit (Config.MaxLogSize); the rest of this run's log records are dropped", max), st.logAttrs()...)
	}
	return false
}

// logText counts s against the run's log budget and returns it cut to what was left.
func (st *state) logText(s string) string {
	left := st.m.cfg.MaxLogSize - st.logged
	if left < 0 {
		left = 0
	}
	if len(s) > left {
		st.logged += left
		return s[:left] + fmt.Sprintf("... [%d bytes cut: Config.MaxLogSize]", len(s)-left)
	}
	st.logged += len(s)
	return s
}
