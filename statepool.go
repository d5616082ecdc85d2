package fastlua

import (
	"sync"
	"sync/atomic"
	"time"
)

// The pool of states: a bounded LIFO (the state used last, with warm caches, goes out first),
// with Config.PoolTimeout for a request that finds every state busy.

// statePool is a bounded LIFO pool of states: a mutex and a slice, so the state used last (with
// warm caches) is used next. When all MaxStates are busy, callers wait in FIFO order; a state
// that is released goes straight to the first waiter.
//
// In front of the slice, the state released last on each shard waits in a hot slot taken and
// filled with one atomic operation each, without the mutex (a mutex costs two per get and two
// per release, and each atomic waits for the CPU's pending stores, which a script run leaves
// many of). A caller names its shard (its exchange's, see exchange.shard), and a state goes back
// to the slot it came from: the exchanges come from a sync.Pool, which keeps them per P, so the
// requests of one core keep to one slot, on a cache line of its own, and cores do not pass
// one slot's line (or the mutex) back and forth on every request. A release parks a state only
// when no one waits and the pool is open, and checks both again after parking it: a caller
// that started waiting, or Close, in between might miss the state, so the releaser takes it
// back and goes the slow way. The caller that starts waiting checks every slot after
// announcing itself (waiting), so one of the two always sees the other.
type statePool struct {
	m       *Middleware
	hot     []hotSlot    // per shard: the state released last there, when no one waited
	mask    uint32       // len(hot)-1; len(hot) is a power of two
	waiting atomic.Int32 // len(waiters), read without the mutex
	shut    atomic.Bool  // closed, read without the mutex
	mu      sync.Mutex
	idle    []*state
	live    int
	max     int
	waiters []chan *state // a nil state sent means "make your own"
	closed  bool
}

// hotSlot is one shard's slot, alone on its cache line (and the next: adjacent-line prefetch).
type hotSlot struct {
	st atomic.Pointer[state]
	_  [128 - 8]byte
}

// newStatePool makes a pool of at most max states, with a hot slot per shard.
func newStatePool(m *Middleware, max int) statePool {
	n := shards()
	return statePool{m: m, max: max, hot: make([]hotSlot, n), mask: uint32(n - 1)}
}

// get takes a state for a caller without a shard (tests, tools): getOn shard 0.
func (p *statePool) get(timeout time.Duration) (*state, error) { return p.getOn(0, timeout) }

// getOn takes a state: the one parked in shard's hot slot, else one from the idle list, else
// a new one while fewer than max exist; else it waits up to timeout (ErrPoolTimeout). The
// state remembers its shard: put parks it there.
func (p *statePool) getOn(shard uint32, timeout time.Duration) (*state, error) {
	slot := &p.hot[shard&p.mask]
	if st := slot.st.Swap(nil); st != nil {
		return st, nil
	}
	st, err := p.getSlow(timeout)
	if st != nil {
		st.shard = shard & p.mask
	}
	return st, err
}

// getSlow is getOn after the hot slot was empty.
func (p *statePool) getSlow(timeout time.Duration) (*state, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		st := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return st, nil
	}
	if p.live < p.max {
		p.live++
		p.mu.Unlock()
		return p.create()
	}
	ch := make(chan *state, 1)
	p.waiters = append(p.waiters, ch)
	p.waiting.Add(1)
	p.mu.Unlock()
	// A release may have parked a state before it could see this caller waiting.
	if st := p.takeHot(); st != nil {
		if !p.cancel(ch) {
			p.release(<-ch) // handed a state (or a slot) as well: give it back
		}
		return st, nil
	}

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case st := <-ch:
		if st == nil {
			return p.create()
		}
		return st, nil
	case <-t.C:
	}
	if p.cancel(ch) {
		return nil, ErrPoolTimeout
	}
	// A state was handed over just as the timer fired: take it.
	if st := <-ch; st != nil {
		return st, nil
	}
	return p.create()
}

// takeHot takes a state parked in any hot slot, or returns nil.
func (p *statePool) takeHot() *state {
	for i := range p.hot {
		if st := p.hot[i].st.Swap(nil); st != nil {
			return st
		}
	}
	return nil
}

// cancel removes a waiter. It reports false when the waiter is gone already: a state (or a
// slot) has been sent to it.
func (p *statePool) cancel(ch chan *state) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.waiting.Add(-1)
			return true
		}
	}
	return false
}

// create makes a state for a slot already counted in live.
func (p *statePool) create() (*state, error) {
	st, err := p.m.newState()
	if err != nil {
		p.release(nil)
		return nil, err
	}
	return st, nil
}

// put returns a state after use. A broken state (its run panicked or hit a limit) is closed
// instead, and its slot freed.
func (p *statePool) put(st *state) {
	if st.broken {
		st.close()
		p.release(nil)
		return
	}
	p.release(st)
}

// release hands st (or, for nil, a free slot) to a waiter, or keeps it.
func (p *statePool) release(st *state) {
	if st != nil && p.waiting.Load() == 0 && !p.shut.Load() {
		// Once parked, st may be taken and its shard changed: read it before.
		if slot := &p.hot[st.shard]; slot.st.CompareAndSwap(nil, st) {
			if p.waiting.Load() == 0 && !p.shut.Load() {
				return
			}
			if !slot.st.CompareAndSwap(st, nil) {
				return // taken already, by a waiter or by Close
			}
		}
	}
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.waiting.Add(-1)
		p.mu.Unlock()
		w <- st
		return
	}
	if st == nil || p.closed {
		p.live--
		p.mu.Unlock()
		if st != nil {
			st.close()
		}
		return
	}
	p.idle = append(p.idle, st)
	p.mu.Unlock()
}

// close closes the idle states; states in use are closed when they come back.
func (p *statePool) close() {
	p.mu.Lock()
	p.closed = true
	p.shut.Store(true)
	idle := p.idle
	for st := p.takeHot(); st != nil; st = p.takeHot() {
		idle = append(idle, st)
	}
	p.idle = nil
	p.live -= len(idle)
	p.mu.Unlock()
	for _, st := range idle {
		st.close()
	}
}
