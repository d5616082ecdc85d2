package fastlua

import (
	"context"
	"errors"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Time limits.
//
// gopher-lua checks a state's context before every instruction when one is set (and runs a
// plain loop, at full speed, when none is). Making a context and a timer per run would cost more
// than a trivial script (a timer Reset+Stop is ~70 ns here, time.Now ~50 ns), so each state
// owns one limitCtx for its whole life, and a single watchdog goroutine per Middleware keeps a
// coarse clock and cancels the context of any state whose deadline has passed. Arming a run is
// two atomic operations. A state whose context fired is closed, never reused.

// errTimeLimit is what a script sees (in pcall) when its time is up.
var errTimeLimit = errors.New("fastlua: time limit exceeded")

// limitCtx is a state's context. Done is closed when the watchdog fires. It implements
// AfterFunc so that the child contexts gopher-lua makes for coroutines register a callback
// rather than start a goroutine each.
type limitCtx struct {
	done   chan struct{}
	fired  atomic.Bool
	memory atomic.Bool // fired by the memory guard, not the clock

	mu    sync.Mutex
	after map[*afterFunc]struct{}
}

type afterFunc struct{ f func() }

func newLimitCtx() *limitCtx { return &limitCtx{done: make(chan struct{})} }

func (c *limitCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *limitCtx) Done() <-chan struct{}       { return c.done }
func (c *limitCtx) Value(any) any               { return nil }
func (c *limitCtx) Err() error {
	if c.fired.Load() {
		return errTimeLimit
	}
	return nil
}

// AfterFunc arranges for f to run when the context fires.
func (c *limitCtx) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.fired.Load() {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if c.after == nil {
		c.after = map[*afterFunc]struct{}{}
	}
	c.after[a] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.after[a]
		delete(c.after, a)
		return ok
	}
}

// dropAfterFuncs forgets the callbacks of a finished run (its coroutines are garbage).
func (c *limitCtx) dropAfterFuncs() {
	c.mu.Lock()
	clear(c.after)
	c.mu.Unlock()
}

func (c *limitCtx) fire() {
	c.mu.Lock()
	c.fired.Store(true)
	close(c.done)
	fns := make([]func(), 0, len(c.after))
	for a := range c.after {
		fns = append(fns, a.f)
	}
	clear(c.after)
	c.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

var _ context.Context = (*limitCtx)(nil)

// deadlineFired marks a state whose deadline the watchdog acted on.
const deadlineFired = -1

// watchdog keeps a coarse clock and fires the contexts of states that run past their deadline.
type watchdog struct {
	start  time.Time
	tick   atomic.Int64 // nanoseconds
	now    atomic.Int64 // nanoseconds since start, updated every tick
	retick chan time.Duration

	memLimit uint64           // Config.MemoryLimit; 0: no memory guard
	heap     []metrics.Sample // the live heap as of the last GC, and the GC cycles so far
	gcCycles atomic.Uint64    // heap[1] as of the last tick

	mu     sync.Mutex
	states map[*state]struct{}

	stop chan struct{}
	done chan struct{}
}

// newWatchdog starts a watchdog. Its clock is paused (and it does nothing) until setTick gives
// it a tick, when a script with a time limit is installed (or at once, with a memory limit).
func newWatchdog(memLimit uint64) *watchdog {
	w := &watchdog{
		start:    time.Now(),
		retick:   make(chan time.Duration, 1),
		states:   map[*state]struct{}{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		memLimit: memLimit,
		heap:     []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}},
	}
	go w.loop()
	return w
}

// setTick changes the tick, for a new shortest limit; 0 pauses the watchdog once no run has a
// deadline armed.
func (w *watchdog) setTick(tick time.Duration) {
	if time.Duration(w.tick.Load()) == tick {
		return
	}
	// Refresh the clock, so the lag stays within the tick arming pads with.
	w.now.Store(int64(time.Since(w.start)))
	w.tick.Store(int64(tick))
	select {
	case <-w.retick: // replace a pending change
	default:
	}
	w.retick <- tick
}

func (w *watchdog) loop() {
	defer close(w.done)
	var ticker *time.Ticker
	var tc <-chan time.Time
	pausing := false // paused as soon as no run has a deadline armed
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-w.stop:
			return
		case d := <-w.retick:
			pausing = d <= 0
			switch {
			case d <= 0:
				// Runs of scripts just removed may still have deadlines: keep ticking until
				// none is armed.
			case ticker == nil:
				ticker = time.NewTicker(d)
				tc = ticker.C
			default:
				ticker.Reset(d)
				tc = ticker.C
			}
			continue
		case <-tc:
		}
		now := int64(time.Since(w.start))
		w.now.Store(now)
		overMemory, cycles := false, uint64(0)
		if w.memLimit > 0 {
			metrics.Read(w.heap)
			overMemory = w.heap[0].Value.Kind() == metrics.KindUint64 && w.heap[0].Value.Uint64() > w.memLimit
			if w.heap[1].Value.Kind() == metrics.KindUint64 {
				cycles = w.heap[1].Value.Uint64()
				w.gcCycles.Store(cycles)
			}
		}
		tick := w.tick.Load()
		armed := false
		w.mu.Lock()
		for st := range w.states {
			d := st.deadline.Load()
			switch {
			case d > 0 && now > d && st.deadline.CompareAndSwap(d, deadlineFired):
				st.ctx.fire()
			case d > 0 && overMemory && now-st.armedAt.Load() > tick && cycles > st.armedGC.Load()+1 &&
				st.deadline.CompareAndSwap(d, deadlineFired):
				// The heap is over the limit: stop the runs that have lasted more than a tick
				// (requests' scripts take microseconds; the one building the heap does not),
				// and only if a GC ended after the run began (two cycles after the one the
				// watchdog saw then): the live heap is as of the last GC, and the garbage of a
				// run stopped before counts as live until the next one.
				st.ctx.memory.Store(true)
				st.ctx.fire()
			case d > 0:
				armed = true
			}
		}
		w.mu.Unlock()
		if pausing && !armed {
			ticker.Stop()
			tc = nil
		}
	}
}

func (w *watchdog) add(st *state) {
	w.mu.Lock()
	w.states[st] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) remove(st *state) {
	w.mu.Lock()
	delete(w.states, st)
	w.mu.Unlock()
}

// deadline returns the deadline for a run of length limit starting now. The clock lags real
// time by up to one tick, so one tick is added: a limit is never cut short, and is overrun by at
// most two ticks.
func (w *watchdog) deadline(limit time.Duration) int64 {
	return w.now.Load() + int64(limit) + w.tick.Load()
}

func (w *watchdog) close() {
	close(w.stop)
	<-w.done
}

// tickFor picks the watchdog's tick for the shortest limit in use: a twentieth of it, between
// 1 ms and 50 ms.
func tickFor(limit time.Duration) time.Duration {
	return min(max(limit/20, time.Millisecond), 50*time.Millisecond)
}
