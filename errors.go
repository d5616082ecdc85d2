package fastlua

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fastlua/fastlua/bridge"
	lua "github.com/yuin/gopher-lua"
)

// ErrorKind classifies a ScriptError.
type ErrorKind uint8

// The kinds of script failure.
const (
	ErrRuntime      ErrorKind = iota // error("text") or a runtime error: 500
	ErrRaised                        // error({status_code = ..., message = ...}): that status
	ErrTimeout                       // the run exceeded its time limit: 500
	ErrLimit                         // a sandbox limit: stack depth, string size, coroutines: 500
	ErrPanic                         // a Go panic during the run, whatever caught it: 500
	ErrModification                  // a change the script was not allowed to make, or a bad return value: 500
	ErrUnavailable                   // no Lua state became free in time: 503
)

var kindNames = [...]string{"runtime", "raised", "timeout", "limit", "panic", "modification", "unavailable"}

func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// ScriptError is a script's failure. The middleware answers it with Status and DreamFactory's
// error body, {"error":{"code":Status,"message":...}}.
type ScriptError struct {
	Script    string // the script's name (its pattern)
	Event     string // the concrete event, when known
	Line      int    // the line the error was raised at; 0 when unknown
	Kind      ErrorKind
	Status    int
	Message   string // without the script and line
	Traceback string // the Lua traceback, for logs
	Err       error  // the underlying error, if any
}

func (e *ScriptError) Error() string {
	return "fastlua: " + e.describe()
}

func (e *ScriptError) Unwrap() error { return e.Err }

// describe is the message with the script and line in front.
func (e *ScriptError) describe() string {
	if e.Script == "" {
		return e.Message
	}
	if e.Line > 0 {
		return fmt.Sprintf("script %s, line %d: %s", e.Script, e.Line, e.Message)
	}
	return fmt.Sprintf("script %s: %s", e.Script, e.Message)
}

// publicMessage is the message a client sees. An error a script raised with a status and a
// message is the script's answer and is sent as it is; other messages name the script and line,
// unless hide is set, when they are replaced by the status text.
func (e *ScriptError) publicMessage(hide bool) string {
	switch {
	case e.Kind == ErrRaised:
		return e.Message
	case hide:
		return http.StatusText(e.Status)
	default:
		return e.describe()
	}
}

// errorBody appends DreamFactory's error shape.
func errorBody(dst []byte, status int, msg string) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"message":`...)
	dst = bridge.AppendString(dst, msg)
	return append(dst, "}}"...)
}

// scriptErrorFrom turns what PCall returned into a ScriptError.
func scriptErrorFrom(s *script, err error) *ScriptError {
	se := &ScriptError{Script: s.Name, Kind: ErrRuntime, Status: 500, Err: err}
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		se.Message = err.Error()
		return se
	}
	se.Traceback = ae.StackTrace
	if ae.Type == lua.ApiErrorPanic {
		se.Kind = ErrPanic
	}
	switch obj := ae.Object.(type) {
	case *lua.LTable:
		se.Kind = ErrRaised
		status := obj.RawGetString("status_code")
		if status == lua.LNil {
			status = obj.RawGetString("code")
		}
		if n, ok := status.(lua.LNumber); ok && n >= 400 && n <= 599 && n == lua.LNumber(int(n)) {
			se.Status = int(n)
		}
		switch m := obj.RawGetString("message").(type) {
		case lua.LString:
			se.Message = string(m)
		case lua.LNumber:
			se.Message = m.String()
		default:
			se.Message = http.StatusText(se.Status)
		}
	case lua.LString:
		se.Line, se.Message = splitPosition(string(obj))
	default:
		se.Message = ae.Object.String()
	}
	if se.Kind == ErrRuntime && isLimitMessage(se.Message) {
		se.Kind = ErrLimit
	}
	if se.Kind == ErrRuntime && strings.HasPrefix(se.Message, "runtime error: ") {
		// A Go runtime error that gopher-lua turned into a string (a coroutine's failure comes
		// back that way): the VM failed, not the script. The state is closed; the client is
		// not shown Go's text.
		se.Kind = ErrPanic
		se.Message = "the Lua VM failed; its state was closed (the details are logged)"
	}
	return se
}

// splitPosition takes the "script:12: " prefix gopher-lua puts on messages apart.
func splitPosition(msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, chunkName+":")
	if !ok {
		return 0, msg
	}
	i := strings.IndexByte(rest, ':')
	if i <= 0 {
		return 0, msg
	}
	line, err := strconv.Atoi(rest[:i])
	if err != nil {
		return 0, msg
	}
	return line, strings.TrimPrefix(rest[i+1:], " ")
}

// isLimitMessage recognizes gopher-lua's own limit errors (fastlua's set state.limitHit).
func isLimitMessage(msg string) bool {
	return msg == "stack overflow" || msg == "registry overflow"
}
