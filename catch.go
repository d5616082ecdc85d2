package fastlua

import (
	"fmt"
	"runtime"

	lua "github.com/yuin/gopher-lua"
)

// Go panics.
//
// A Go panic inside a run (a builtin's bug, gopher-lua's, or a builtin that panics on bad
// arguments, as math.random(0) does) leaves a state that cannot be trusted: the run stops and
// the state is closed, whatever the script wraps the call in. gopher-lua recovers Go panics in
// PCall (with an error handler it makes them ordinary errors) and in a coroutine (as a string),
// so each place that recovers one notes it on the state (goPanic), and every catcher a script
// has (pcall, xpcall, coroutine.resume, the function of coroutine.wrap) re-raises when that
// mark is set, so no catcher can swallow it; the run then fails with KindPanic.
//
//   - pcall and xpcall call the function through guard, inside PCall. guard sets the thread's
//     Panic (how gopher-lua raises a Lua error) to luaPanic, which notes the thread that raised
//     (raised) before it panics as gopher-lua's does; guard's deferred check lets that panic
//     pass untouched (an ordinary error costs what it did: no traceback, no second panic) and
//     recovers anything else, a Go panic, to note it and panic again.
//   - A coroutine raises its Lua errors through luaPanic too (it is started to its first
//     yield when it is created, so its Panic can be set), and coroutine.resume takes a
//     coroutine that died without having raised one as one that died of a Go panic.
//   - A Go panic outside any catcher reaches the run's own PCall, whose handler (onError)
//     sees it on the Go stack (goPanicking).

// goPanicMessage is the error every catcher re-raises after a Go panic, and what the client is
// told; Go's text is logged.
const goPanicMessage = "the Lua VM failed; its state was closed (the details are logged)"

// catchState is what the catchers of a state share.
type catchState struct {
	guard     *lua.LFunction    // calls its first argument with the others (see protect)
	passError *lua.LFunction    // an error handler that returns the error as it is
	luaPanic  func(*lua.LState) // st.raise, made once
	goPanic   string            // Go's text of this run's Go panic; "" if none
	raised    *lua.LState       // the thread whose Lua error is unwinding, as luaPanic noted
}

func (st *state) openCatchers(L *lua.LState) {
	c := &st.catch
	c.luaPanic = st.raise
	// An error handler makes PCall skip gopher-lua's traceback, which it builds for every
	// caught error otherwise, with an entry per tail call (as many as a script likes).
	c.passError = L.NewFunction(func(L *lua.LState) int { return 1 })
	c.guard = L.NewFunction(func(L *lua.LState) int {
		L.Panic = c.luaPanic // until PCall, which set its own, restores the one before it
		c.raised = nil
		defer st.guardRecover(L)
		L.Call(L.GetTop()-1, lua.MultRet)
		return L.GetTop()
	})
}

// raise raises the Lua error on top of L's stack, as gopher-lua's Panic does, noting that it
// is a Lua error.
func (st *state) raise(L *lua.LState) {
	st.catch.raised = L
	panic(&lua.ApiError{Type: lua.ApiErrorRun, Object: L.Get(-1)})
}

// guardRecover is guard's deferred check: a Lua error raised through raise passes on to PCall;
// anything else is a Go panic, noted before it goes on.
func (st *state) guardRecover(L *lua.LState) {
	if st.catch.raised == L {
		return
	}
	if r := recover(); r != nil {
		if _, ok := r.(*lua.ApiError); !ok {
			st.notePanic(fmt.Sprint(r))
		}
		panic(r)
	}
}

// notePanic marks the run as having had a Go panic: it stops, and its state is closed.
func (st *state) notePanic(text string) {
	if st.catch.goPanic == "" {
		st.catch.goPanic = text
	}
}

// rethrow is what every catcher does once it has caught something: after a Go panic, it
// raises again.
func (st *state) rethrow(L *lua.LState) {
	if st.catch.goPanic != "" {
		L.RaiseError("%s", goPanicMessage)
	}
}

// protect calls the function at the bottom of L's stack with the values above it, as pcall
// does. It returns nil with the results on the stack, or the error value with the stack empty.
func (st *state) protect(L *lua.LState) lua.LValue {
	L.Insert(st.catch.guard, 1)
	err := L.PCall(L.GetTop()-1, lua.MultRet, st.catch.passError)
	st.catch.raised = nil
	st.rethrow(L)
	if err == nil {
		return nil
	}
	if ae, ok := err.(*lua.ApiError); ok {
		return ae.Object
	}
	return lua.LString(err.Error())
}

// scriptPcall is pcall: false and the error when the call fails.
func (st *state) scriptPcall(L *lua.LState) int {
	fn := L.CheckAny(1)
	if fn.Type() != lua.LTFunction && L.GetMetaField(fn, "__call").Type() != lua.LTFunction {
		L.Push(lua.LFalse)
		L.Push(lua.LString("attempt to call a " + fn.Type().String() + " value"))
		return 2
	}
	if e := st.protect(L); e != nil {
		L.Push(lua.LFalse)
		L.Push(e)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// scriptXpcall is Lua 5.1's xpcall(f, handler): f is called without arguments; when it fails, the
// handler's first result is returned after false (or the handler's own error, if it fails).
// The handler runs once the failed call has been unwound, in a protected call of its own
// (without a debug library, a script cannot tell).
func (st *state) scriptXpcall(L *lua.LState) int {
	fn := L.CheckFunction(1)
	handler := L.CheckFunction(2)
	L.SetTop(0)
	L.Push(fn)
	e := st.protect(L)
	if e == nil {
		L.Insert(lua.LTrue, 1)
		return L.GetTop()
	}
	L.SetTop(0)
	L.Push(handler)
	L.Push(e)
	if he := st.protect(L); he != nil {
		e = he
	} else {
		e = L.Get(1)
	}
	L.SetTop(0)
	L.Push(lua.LFalse)
	L.Push(e)
	return 2
}

// goPanicking reports whether the caller runs while a Go panic is being recovered: the panic
// nearest on the Go stack was not raised by gopher-lua's Panic (or by raise). It walks the
// stack, so it is only for error paths.
func goPanicking() bool {
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	afterPanic := false
	for {
		f, more := frames.Next()
		if afterPanic {
			switch f.Function {
			case "github.com/yuin/gopher-lua.panicWithoutTraceback", "github.com/yuin/gopher-lua.panicWithTraceback",
				"github.com/fastlua/fastlua.(*state).raise":
				return false
			}
			return true
		}
		afterPanic = f.Function == "runtime.gopanic"
		if !more {
			return false
		}
	}
}

// openCoroutines sets fastlua's create, wrap and resume in co. A coroutine is created started:
// it has run to a first yield of its own, before its function, so that its Lua errors are
// raised through raise (see "Go panics" above). Its function then gets the arguments of the
// first resume.
//
// startYield is gopher-lua's own yield: the start yields from the coroutine's own code, where a
// yield is always safe, without the check of the script's yield.
func (st *state) openCoroutines(L *lua.LState, co *lua.LTable, startYield *lua.LFunction) {
	origCreate := co.RawGetString("create").(*lua.LFunction)
	origResume := co.RawGetString("resume").(*lua.LFunction)
	body, err := L.LoadString("local yield, f = ... local function pass(...) return ... end return function() return pass(f(yield())) end")
	if err != nil {
		panic(err) // constant source
	}
	create := func(L *lua.LState, what string) *lua.LState {
		fn := L.CheckFunction(1)
		st.coroutines++
		if st.coroutines > maxCoroutines {
			st.raiseLimit(L, "%s: a script may create at most %d coroutines per run", what, maxCoroutines)
		}
		top := L.GetTop()
		L.Push(body)
		L.Push(startYield)
		L.Push(fn)
		L.Call(2, 1)
		start := L.Get(-1)
		L.Pop(1)
		L.Push(origCreate)
		L.Push(start)
		L.Call(1, 1)
		th := L.Get(-1).(*lua.LState)
		L.Push(origResume)
		L.Push(th)
		L.Call(1, lua.MultRet)
		if L.Get(top+2) == lua.LFalse {
			L.Error(L.Get(top+3), 1) // the start failed (the time limit, say)
		}
		th.Panic = st.catch.luaPanic
		L.SetTop(top)
		return th
	}
	// resume resumes th with the values from index from on; the stack then holds what
	// coroutine.resume returns.
	resume := func(L *lua.LState, th *lua.LState) int {
		if th.Dead || L.G.CurrentThread == th {
			return callOriginal(L, origResume) // refused before it runs
		}
		st.catch.raised = nil
		n := callOriginal(L, origResume)
		st.rethrow(L)
		if L.Get(1) == lua.LFalse && st.catch.raised != th {
			// th died of an error it did not raise: a Go panic, which gopher-lua's coroutines
			// turn into a string.
			st.notePanic(L.Get(2).String())
			st.rethrow(L)
		}
		st.catch.raised = nil
		return n
	}
	co.RawSetString("create", L.NewFunction(func(L *lua.LState) int {
		L.Push(create(L, "coroutine.create"))
		return 1
	}))
	co.RawSetString("resume", L.NewFunction(func(L *lua.LState) int {
		return resume(L, L.CheckThread(1))
	}))
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int {
		th := create(L, "coroutine.wrap")
		L.Push(L.NewFunction(func(L *lua.LState) int {
			refused := th.Dead || L.G.CurrentThread == th
			L.Insert(th, 1)
			resume(L, th)
			if L.Get(1) == lua.LFalse {
				if refused {
					L.RaiseError("%s", L.Get(2).String())
				}
				L.Error(L.Get(2), 0) // the coroutine's error, as it raised it
			}
			L.Remove(1)
			return L.GetTop()
		}))
		return 1
	}))
}
