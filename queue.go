package fastlua

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
)

// Queued scripts.
//
// When a request has queued scripts, a deep copy of its event is made on the request's goroutine
// (fasthttp reuses its request and response objects once the handler returns): the request and
// the response as they are after post_process, the session value, and the handler chain for
// platform.api. The copy goes on a bounded queue, and a fixed number of workers run the scripts
// on states from the same pool, after the handler has returned. When the queue is full, the
// event is dropped and counted (QueueDrop, the default), or the request waits up to
// Config.QueueWait for room (QueueBlock). Close drains the queue within its context's deadline
// and returns (and logs) every accepted event it could not run.

// queuedEvent is the deep copy of a request's event for its queued scripts.
type queuedEvent struct {
	inProcess // holds the copied request and response
	next      fasthttp.RequestHandler
	scripts   []*script
	session   any
	hasSess   bool
	name      string // for logs when it cannot run
	traced    bool   // the request was traced (trace.go): its runs are logged at debug level
	requestID string // the request's id, when it was made before it was queued
}

var queuedPool = sync.Pool{New: func() any { return &queuedEvent{} }}

// queue is the bounded queue and its workers.
type queue struct {
	m  *Middleware
	ch chan *queuedEvent

	mu     sync.RWMutex // held for reading while sending; for writing to close
	closed bool

	workers sync.WaitGroup
	abort   atomic.Bool // Close's deadline passed: workers stop taking events

	accepted, done, dropped, failed atomic.Uint64
	// The events Close's deadline left unrun, for ErrQueueClosed's message (each one is also
	// logged): how many, and how many of each of the first maxNotRunNamed kinds (a request's
	// method, path and scripts).
	notRunMu    sync.Mutex
	notRunCount int
	notRunNames []string
	notRunKinds map[string]int
	// With a QueueBackend: events published, events that took the fallback, events delivered
	// to this process's consumers and run here; deliveries released for another consumer (no
	// queued script matched here), events dead-lettered here.
	published, fallbacks, delivered atomic.Uint64
	retried, deadLettered           atomic.Uint64
	// The backend failed a Publish: until backendDownUntil (unix ns; 0 while it works),
	// events take the fallback without trying it; then one Publish at a time (probing) tries.
	backendDownUntil atomic.Int64
	probing          atomic.Bool
	consumers        sync.WaitGroup
	stopConsuming    context.CancelFunc      // set by Consume, under mu
	consumeNext      fasthttp.RequestHandler // the handler Consume was given
}

func newQueue(m *Middleware, size, workers int) *queue {
	q := &queue{m: m, ch: make(chan *queuedEvent, size)}
	q.workers.Add(workers)
	for i := 0; i < workers; i++ {
		go q.work()
	}
	return q
}

// enqueue copies the event of x for its queued scripts and queues it.
func (m *Middleware) enqueue(x *exchange, scripts []*script) {
	q := m.queue
	ev := queuedPool.Get().(*queuedEvent)
	ev.init(m, x.ctx.RemoteAddr(), x.ctx.LocalAddr())
	x.ctx.Request.CopyTo(&ev.ctx.Request)
	x.ctx.Response.CopyTo(&ev.ctx.Response)
	if t := m.cfg.Tracer; t != nil && x.spans.parent != nil {
		t.Inject(x.spans.parent, &ev.ctx.Request.Header) // its queued spans are children of the request's
	}
	ev.next = x.next
	ev.scripts = append(ev.scripts[:0], scripts...)
	ev.session, ev.hasSess = x.sessionValue()
	ev.traced = x.rootExchange().trace != nil
	ev.requestID = x.rootExchange().requestID // its records carry the request's id
	if !q.push(ev) {
		q.dropped.Add(1)
		m.logger.Warn("fastlua: queued event dropped: the queue is full or closed",
			slog.String("event", x.eventName(bridge.Queued)))
		ev.release()
	}
}

// push queues ev according to the policy; false means it was not accepted.
func (q *queue) push(ev *queuedEvent) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	select {
	case q.ch <- ev:
		q.accepted.Add(1)
		return true
	default:
	}
	if q.m.cfg.QueueFull != QueueBlock {
		return false
	}
	t := time.NewTimer(q.m.cfg.QueueWait)
	defer t.Stop()
	select {
	case q.ch <- ev:
		q.accepted.Add(1)
		return true
	case <-t.C:
		return false
	}
}

func (q *queue) work() {
	defer q.workers.Done()
	for ev := range q.ch {
		switch {
		case q.abort.Load():
			q.notRun(ev)
		case q.m.cfg.QueueBackend != nil:
			q.publish(ev)
		default:
			q.run(ev)
		}
	}
}

// run runs ev's scripts on a state from the pool.
func (q *queue) run(ev *queuedEvent) {
	defer ev.release()
	m := q.m
	x, ok := m.getExchange(m.routes.Load(), &ev.ctx, ev.next)
	defer putExchange(x)
	if !ok {
		q.done.Add(1)
		return
	}
	// The scripts are the ones that matched when the request was served, not the ones
	// installed now.
	x.session, x.sessionDone = ev.session, ev.hasSess
	x.queueID, x.requestID = nextLocalQueueID(), ev.requestID
	if ev.traced {
		x.trace = &trace{} // logged at debug level only: the response is gone
	}
	if !x.runPhase(bridge.Queued, ev.scripts) {
		q.failed.Add(1)
	}
	q.done.Add(1)
}

func (q *queue) notRun(ev *queuedEvent) {
	q.failed.Add(1)
	name := string(ev.ctx.Request.Header.Method()) + " " + string(ev.ctx.Path())
	q.notRunMu.Lock()
	q.notRunCount++
	names := make([]string, len(ev.scripts))
	for i, s := range ev.scripts {
		names[i] = s.Name
	}
	kind := name + " (" + strings.Join(names, ", ") + ")"
	if q.notRunKinds == nil {
		q.notRunKinds = make(map[string]int)
	}
	if _, seen := q.notRunKinds[kind]; seen || len(q.notRunNames) < maxNotRunNamed {
		if !seen {
			q.notRunNames = append(q.notRunNames, kind)
		}
		q.notRunKinds[kind]++
	}
	q.notRunMu.Unlock()
	q.m.logger.Error("fastlua: queued event not run: the middleware closed before it could run",
		slog.String("request", name), slog.Int("scripts", len(ev.scripts)))
	ev.release()
}

// close stops accepting events and runs what was accepted, until ctx ends. It returns the number
// of accepted events that were not run.
func (q *queue) close(ctx context.Context) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	stopConsuming := q.stopConsuming
	q.mu.Unlock()
	close(q.ch) // no sender is in push: they hold the read lock and check closed

	finished := make(chan struct{})
	go func() {
		q.workers.Wait()
		if stopConsuming != nil {
			// Everything accepted here has been published (or run, or reported): stop taking
			// deliveries, and let the ones running finish; the backend redelivers the rest.
			stopConsuming()
			q.consumers.Wait()
		}
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
	}
	// Out of time: workers finish the scripts they are running and report the rest.
	q.abort.Store(true)
	<-finished
	q.notRunMu.Lock()
	defer q.notRunMu.Unlock()
	if n := q.notRunCount; n > 0 {
		which, named := make([]string, len(q.notRunNames)), 0
		for i, kind := range q.notRunNames {
			which[i] = fmt.Sprintf("%d × %s", q.notRunKinds[kind], kind)
			named += q.notRunKinds[kind]
		}
		if more := n - named; more > 0 {
			which = append(which, fmt.Sprintf("%d more (each is logged)", more))
		}
		return fmt.Errorf("%w: %d accepted events were still queued when the deadline passed: %s", ErrQueueClosed, n, strings.Join(which, "; "))
	}
	return nil
}

// maxNotRunNamed is how many kinds of the events Close could not run ErrQueueClosed names.
const maxNotRunNamed = 8

func (ev *queuedEvent) release() {
	ev.reset()
	clear(ev.scripts)
	ev.scripts = ev.scripts[:0]
	ev.next, ev.session, ev.hasSess, ev.traced, ev.requestID = nil, nil, false, false, ""
	queuedPool.Put(ev)
}
