package fastlua

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// The sentinel errors. Errors that carry more (a limit, a count) wrap them: test with errors.Is.
var (
	// ErrClosed is returned for work given to a closed Middleware.
	ErrClosed = errors.New("fastlua: middleware closed")

	// ErrPoolTimeout is returned (and answered with 503) when no Lua state became free within
	// Config.PoolTimeout.
	ErrPoolTimeout = errors.New("fastlua: no Lua state became free in time (Config.MaxStates are all busy)")

	// ErrQueueClosed is returned by Close when accepted queued events could not all be run before its
	// context ended; the error says how many and which (each request's method, path and scripts).
	ErrQueueClosed = errors.New("fastlua: queued events not run")

	// ErrNotNumber is returned by Incr for a key whose value is not a number.
	ErrNotNumber = errors.New("fastlua: the stored value is not a number")

	// ErrStoreFull is returned for a new key (or a larger value) when a MemoryStore holds its
	// maximum of entries or bytes, and none of its entries has expired; the error wraps it with the
	// limit.
	ErrStoreFull = errors.New("fastlua: the store is full")

	// ErrKeyTooLong is returned for a key over its limit (MemoryStoreConfig.MaxKeySize, or
	// Config.MaxStoreKey in platform.store); the error wraps it with the limit.
	ErrKeyTooLong = errors.New("fastlua: the store key is too long")

	// ErrValueTooLarge is returned for a string or table over its limit
	// (MemoryStoreConfig.MaxValueSize, or Config.MaxStoreValue in platform.store); the error wraps
	// it with the limit.
	ErrValueTooLarge = errors.New("fastlua: the stored value is too large")
)

// ErrorKind classifies a ScriptError.
type ErrorKind uint8

// The kinds of script failure.
const (
	KindRuntime      ErrorKind = iota // error("text") or a runtime error: 500
	KindRaised                        // error({status_code = ..., message = ...}): that status
	KindTimeout                       // the run exceeded its time limit: 500
	KindLimit                         // a sandbox limit: stack depth, string size, coroutines: 500
	KindPanic                         // a Go panic during the run, whatever caught it: 500
	KindModification                  // a change the script was not allowed to make, or a bad return value: 500
	KindUnavailable                   // no Lua state became free in time: 503
)

var kindNames = [...]string{"runtime", "raised", "timeout", "limit", "panic", "modification", "unavailable"}

// String returns the ErrorKind's name.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// ScriptError is a script's failure. The middleware hands it to Config.OnError, then answers
// it with Status and DreamFactory's error body, {"error":{"code":Status,"message":...}} (or
// with Config.ErrorWriter), unless the script fails open.
type ScriptError struct {
	Script    string // the script's name (its pattern); "" for KindUnavailable
	Event     string // the concrete event, when known
	Phase     string // "pre_process", "post_process" or "queued"
	Line      int    // the line the error was raised at; 0 when unknown
	Kind      ErrorKind
	Status    int
	Message   string // without the script and line
	Traceback string // the Lua traceback, for logs
	FailOpen  bool   // the script fails open: the request went on, nothing was answered
	RequestID string // the request's id (see "Request ids" in the package documentation)
	Err       error  // the underlying error, if any
}

// Error returns the error's text.
func (e *ScriptError) Error() string {
	return "fastlua: " + e.describe()
}

// Unwrap returns the underlying error (errors.Is and errors.As see through the ScriptError).
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
	case e.Kind == KindRaised:
		return e.Message
	case hide:
		return http.StatusText(e.Status)
	default:
		return e.describe()
	}
}

// ClientMessage is the message the middleware's own error body gives a client: the message a
// script raised with a status as it is; any other names the script and line, unless hide
// (Config.HideErrors) is set, when it is the status text. An ErrorWriter can use it.
func (e *ScriptError) ClientMessage(hide bool) string { return e.publicMessage(hide) }

// WriteError answers with status and DreamFactory's error body,
// {"error":{"code":status,"message":msg}}, as the middleware answers a script's error. It
// replaces the status, the Content-Type and the body, and leaves the other headers as they are.
// Handlers behind the middleware can use it to answer in the same shape.
func WriteError(resp *fasthttp.Response, status int, msg string) {
	resp.SetStatusCode(status)
	resp.Header.SetContentType("application/json")
	resp.SetBodyRaw(errorBody(nil, status, msg))
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
	se := &ScriptError{Script: s.Name, Kind: KindRuntime, Status: 500, Err: err}
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		se.Message = cutMessage(err.Error())
		return se
	}
	se.Traceback = ae.StackTrace
	if ae.Type == lua.ApiErrorPanic {
		se.Kind = KindPanic
	}
	switch obj := ae.Object.(type) {
	case *lua.LTable:
		if status, msg, problem := readRaised(obj); problem == "" {
			se.Kind, se.Status, se.Message = KindRaised, status, msg
		} else {
			se.Message = "error() was given a table fastlua cannot read (" + problem + "): expected " +
				`{status_code = 400..599, message = "..."}, where code may stand for status_code and error for message`
		}
	case lua.LString:
		se.Line, se.Message = splitPosition(string(obj))
	default:
		se.Message = ae.Object.String()
	}
	if se.Kind == KindRuntime && isLimitMessage(se.Message) {
		se.Kind = KindLimit
	}
	if se.Kind == KindRuntime && strings.HasPrefix(se.Message, "runtime error: ") {
		// A Go runtime error that gopher-lua turned into a string (a coroutine's failure comes
		// back that way): the VM failed, not the script. The state is closed; the client is
		// not shown Go's text.
		se.Kind = KindPanic
		se.Message = "the Lua VM failed; its state was closed (the details are logged)"
	}
	se.Message = cutMessage(se.Message)
	return se
}

// readRaised reads a table given to error() in DreamFactory's forms: the status is status_code,
// or code (the JavaScript examples' {code = 400, message = ...}), or error.code; the message is
// message, or error when it is a string ({status_code = 404, error = "..."}), or error.message
// ({error = {code = ..., message = ...}}, DreamFactory's own error body), or the status text.
// Without a status the status is 500. problem says what is wrong with any other table: one
// with neither, a status that is not a whole number from 400 to 599, a message that is not a
// string or a number. Such a table fails closed (a runtime error: 500, hidden by HideErrors).
func readRaised(obj *lua.LTable) (status int, msg string, problem string) {
	// A lazily decoded JSON object (a part of a body) is read as the table it is.
	bridge.AsTable(obj)
	statusKey, statusV := "status_code", obj.RawGetString("status_code")
	if statusV == lua.LNil {
		statusKey, statusV = "code", obj.RawGetString("code")
	}
	msgKey, msgV := "message", obj.RawGetString("message")
	if msgV == lua.LNil {
		msgKey, msgV = "error", obj.RawGetString("error")
	}
	if inner, ok := bridge.AsTable(msgV); ok && msgKey == "error" {
		if statusV == lua.LNil {
			statusKey, statusV = "error.code", inner.RawGetString("code")
		}
		msgKey, msgV = "error.message", inner.RawGetString("message")
	}
	if statusV == lua.LNil && msgV == lua.LNil {
		return 0, "", "it has neither status_code nor message"
	}
	status = 500
	if statusV != lua.LNil {
		n, ok := statusV.(lua.LNumber)
		if !ok || n < 400 || n > 599 || n != lua.LNumber(int(n)) {
			v := statusV.String()
			if str, isStr := statusV.(lua.LString); isStr {
				v = strconv.Quote(string(str[:min(len(str), 64)]))
			} else if !ok {
				v = "a " + statusV.Type().String()
			}
			return 0, "", statusKey + " is " + v + ", not a whole number from 400 to 599"
		}
		status = int(n)
	}
	switch m := msgV.(type) {
	case *lua.LNilType:
		msg = http.StatusText(status)
	case lua.LString:
		msg = string(m)
	case lua.LNumber:
		msg = m.String()
	default:
		return 0, "", msgKey + " is a " + msgV.Type().String()
	}
	return status, msg, ""
}

// maxErrorMessage bounds the message of a script's error, in the response and in the log: a
// script that raises error(event.request.content) must not write a client's 4 MiB body into
// every log line.
const maxErrorMessage = 4 << 10

// cutMessage returns msg cut to maxErrorMessage bytes, saying how much was cut.
func cutMessage(msg string) string {
	if len(msg) <= maxErrorMessage {
		return msg
	}
	return fmt.Sprintf("%s... [%d bytes cut]", strings.ToValidUTF8(msg[:maxErrorMessage], ""), len(msg)-maxErrorMessage)
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
