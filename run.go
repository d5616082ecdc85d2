package fastlua

import (
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Running one script on a state: arm the time limit, PCall the level's function, read what it
// returned or raised into a result or a ScriptError.

// run runs one script at level lv and returns what it returned.
//
// The outermost run with a time limit arms the state's deadline; runs nested in it (through
// platform.api) count against it. The VM checks the deadline only while a script that can loop
// runs: a straight-line script (see straightLine) runs on gopher-lua's plain loop, with no check
// per instruction, and its deadline still bounds the platform calls it makes.
func (st *state) run(s *script, lv *level) (lua.LValue, error) {
	L := st.L
	fn := lv.fn(s)
	fn.Env = lv.env
	lv.script = s
	lv.dirty = false
	top := L.GetTop()
	if st.depth == 1 {
		st.coroutines = 0
		st.logged = 0
		st.limitHit = false
		st.catch.goPanic, st.catch.raised = "", nil
		st.results.reset() // nothing of the last top-level run holds them (see apiResults)
	}
	outer, checked := false, false
	limit := s.limit
	if limit <= 0 && st.m.watchdog.memLimit > 0 {
		limit = noTimeLimit // armed all the same, for the memory guard to see the run
	}
	if limit > 0 {
		if st.deadline.Load() == 0 && st.pending == 0 {
			outer = true
			st.armedLimit = limit
			if d := st.m.watchdog.deadline(limit); s.straight {
				st.pending = d // armed on demand: see arm
			} else {
				st.armedAt.Store(st.m.watchdog.now.Load())
				st.armedGC.Store(st.m.watchdog.gcCycles.Load())
				st.deadline.Store(d)
			}
		}
		if !s.straight && L.Context() == nil {
			st.arm()
			L.SetContext(st.ctx)
			checked = true
		}
	}
	err := st.pcall(fn)
	timedOut := false
	switch {
	case outer && st.pending != 0:
		// Never armed: check the coarse clock once, at the end.
		timedOut = st.m.watchdog.now.Load() > st.pending
		st.pending = 0
	case outer:
		timedOut = st.deadline.Swap(0) == deadlineFired
		if st.coroutines > 0 {
			st.ctx.dropAfterFuncs()
		}
	default:
		// A run nested in another (through platform.api): the caller's deadline passed
		// during it, whether the VM saw it (checked) or a platform call did (outOfTime).
		timedOut = st.ctx.fired.Load()
	}
	if checked {
		L.RemoveContext()
	}
	var ret lua.LValue = lua.LNil
	if err == nil {
		ret = L.Get(-1)
	}
	L.SetTop(top)
	if lv.dirty {
		lv.newEnv()
	}
	if st.catch.goPanic != "" {
		// A Go panic, whatever caught it (see "Go panics" in sandbox.go): the state is closed,
		// the client gets a generic message, the log Go's text.
		st.broken = true
		return lua.LNil, &ScriptError{Script: s.Name, Kind: KindPanic, Status: 500, Message: goPanicMessage,
			Traceback: "Go panic: " + st.catch.goPanic + "\n" + st.trace, Err: errors.New("fastlua: Go panic: " + st.catch.goPanic)}
	}
	if timedOut {
		st.broken = true
		if st.ctx.memory.Load() {
			return lua.LNil, &ScriptError{Script: s.Name, Kind: KindLimit, Status: 500,
				Message: fmt.Sprintf("stopped: the heap grew past the memory limit of %d MiB (Config.MemoryLimit) while it ran", st.m.watchdog.memLimit>>20)}
		}
		return lua.LNil, &ScriptError{Script: s.Name, Kind: KindTimeout, Status: 500,
			Message: fmt.Sprintf("exceeded its time limit of %v", st.armedLimit)}
	}
	if err != nil {
		se := scriptErrorFrom(s, err)
		if st.limitHit && se.Kind == KindRuntime {
			se.Kind = KindLimit
		}
		se.Traceback = st.trace
		if se.Kind == KindPanic && se.Err != nil {
			se.Traceback = se.Err.Error() + "\n" + se.Traceback // the Go error, for the log only
		}
		if se.Kind == KindPanic || se.Kind == KindLimit {
			st.broken = true // a state that panicked or hit a limit is closed, not reused
		}
		return lua.LNil, se
	}
	return ret, nil
}

// pcall runs fn. gopher-lua's PCall recovers the script's errors, but its recovery can itself
// fail (with an error handler, it pushes the handler before it resets a full value stack: a
// registry overflow then panics out of PCall). Such a state cannot be trusted: it is marked
// broken, and closed instead of reused.
func (st *state) pcall(fn *lua.LFunction) (err error) {
	defer func() {
		if r := recover(); r != nil {
			st.broken = true
			st.limitHit = true
			err = &lua.ApiError{Type: lua.ApiErrorRun, Object: lua.LString(fmt.Sprintf("the Lua state failed: %v", r))}
		}
	}()
	st.L.Push(fn)
	return st.L.PCall(0, 1, st.onError)
}

// arm makes a pending deadline visible to the watchdog.
func (st *state) arm() {
	if st.pending != 0 {
		st.armedAt.Store(st.m.watchdog.now.Load())
		st.armedGC.Store(st.m.watchdog.gcCycles.Load())
		st.deadline.Store(st.pending)
		st.pending = 0
	}
}

// noTimeLimit stands for "no time limit" where a deadline must be armed anyway (for the memory
// guard): about 73 years.
const noTimeLimit = time.Duration(1 << 61)

// runDeadline is when the running script's time limit runs out; ok is false when it has none.
// A platform call is slow enough to arm a pending deadline, so that the watchdog stops what the
// call leads to.
func (st *state) runDeadline() (time.Time, bool) {
	st.arm()
	switch d := st.deadline.Load(); {
	case d == deadlineFired:
		return st.m.watchdog.start, true // passed already
	case d <= 0 || st.armedLimit >= noTimeLimit:
		return time.Time{}, false
	default:
		return st.m.watchdog.start.Add(time.Duration(d)), true
	}
}

// timeLeft is the time left in the running script's limit (see runDeadline).
func (st *state) timeLeft() (time.Duration, bool) {
	d, ok := st.runDeadline()
	if !ok {
		return 0, false
	}
	return time.Until(d), true
}

// pastDeadline reports whether the run's deadline has passed, by the clock or by the watchdog.
func (st *state) pastDeadline(deadline time.Time) bool {
	return st.deadline.Load() == deadlineFired || !time.Now().Before(deadline)
}

// outOfTime fails the running script with its time-limit error: its time ran out during (or
// before) a platform call. The watchdog may not have seen it yet (its clock is coarse), so the
// deadline is fired here: whatever the script does with the error (pcall), its run ends as a
// timeout, "exceeded its time limit of ...".
func (st *state) outOfTime(L *lua.LState, call string) {
	if d := st.deadline.Load(); d > 0 && st.deadline.CompareAndSwap(d, deadlineFired) {
		st.ctx.fire()
	}
	L.RaiseError("%s: the script's time limit of %v ran out", call, st.armedLimit)
}
