package fastlua

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fastlua/fastlua/bridge"
)

// Queue backends.
//
// By default queued events run in the process that accepted them, and die with it. A
// QueueBackend (the redisstore package has one on Redis Streams) carries them between processes
// instead: each event's copy is serialized and published, and consumers in any number of
// processes run the queued scripts of the events the backend delivers, acknowledging each only
// after its scripts finished. Delivery is at least once: an event whose consumer died is
// delivered again, so scripts that must not act twice check event.queue_id.
//
// An event carries the names (and versions) of the queued scripts that matched it where it was
// accepted, and it is done only when all of them have run: a consumer runs that list, in its
// order, each script in the version installed here (the name identifies a script, as in Set;
// another version is logged at debug level), and not the queued scripts of its own that the
// publisher did not have, so what runs for an event does not depend on which consumer took it.
//
// Policy is here, mechanism in the backend. A consumer never drops an event it cannot run:
// when one of its scripts is missing here (another process has it, or this one does not have
// it yet, or has it disabled), the event is released for any consumer to take after a backoff
// (Config.QueueRetryDelay, doubled on each attempt), and after Config.QueueMaxAttempts
// deliveries it is moved to the backend's dead-letter place, logged and counted; so is an
// event that cannot be read, and one delivered more often than that (its consumers kept
// stopping while they ran it). A queued script that runs and fails is done: its error is
// logged and counted, and the event is not delivered again. A delivery that got no Lua state
// (Close gave up waiting for one) did not run: it is released for another consumer at once.
//
// Requests never wait for the backend: the copy goes on the local bounded queue as before, and
// the queue's workers publish it. When publishing fails, Config.QueueFallback says what happens:
// the event runs in this process (FallbackLocal, the default) or is dropped, logged and counted
// (FallbackDrop). After a Publish that ran out of time (a stalled backend), the events of the
// next second take the fallback without being offered to it (publishData).

// QueueBackend carries serialized queued events between processes.
//
// Changed before 1.0: Consume's handle took (id, event) and returned an error (nil to
// acknowledge); it now takes a Delivery, with the attempt number, and returns an Outcome, so
// that the consumer can also release an event for another consumer and dead-letter one.
type QueueBackend interface {
	// Publish stores an event durably; when it returns nil, the event is accepted and will be
	// delivered to a consumer at least once. A backend that is full refuses the event (an
	// error: Config.QueueFallback applies) rather than drop one it accepted.
	Publish(ctx context.Context, event []byte) error
	// Consume delivers events to handle, one at a time, until ctx ends, and returns then. When
	// handle returns, the backend does what the Outcome says: acknowledge the event, release it
	// to be delivered again (to any consumer) after Outcome.After, or move it to a dead-letter
	// place with Outcome.Reason. An event whose consumer died before handle returned is
	// delivered again, here or in another process. Delivery.Attempt counts every delivery of
	// an event, to any consumer, starting at 1.
	Consume(ctx context.Context, handle func(Delivery) Outcome) error
}

// Delivery is one delivery of a queued event to a consumer.
type Delivery struct {
	// ID names the event: the same on every delivery, it is the script's event.queue_id.
	ID string
	// Event is the serialized event, as published; nil when the backend lost it (an entry
	// deleted from a stream before it ran).
	Event []byte
	// Attempt is the number of this delivery: 1 for the first, to any consumer.
	Attempt int
}

// DeliveryAction is what a backend does with a delivered event once its consumer returns.
type DeliveryAction uint8

const (
	// DeliveryAck: the event is done (its scripts ran, whether or not they failed).
	DeliveryAck DeliveryAction = iota
	// DeliveryRetry: not done here; deliver it again, to any consumer, no sooner than
	// Outcome.After. A backend should offer it to the other consumers first.
	DeliveryRetry
	// DeliveryDeadLetter: give up; move it, with Outcome.Reason, to where an operator can see it
	// and replay it, and acknowledge it.
	DeliveryDeadLetter
)

// Outcome is a consumer's decision about a delivery.
type Outcome struct {
	Action DeliveryAction
	After  time.Duration // DeliveryRetry: the backoff
	Reason string        // DeliveryDeadLetter: why
}

// eventRecord is a queued event serialized for a backend.
type eventRecord struct {
	Method     string          `json:"method"`
	URI        string          `json:"uri"`
	Host       string          `json:"host"`
	Headers    [][2]string     `json:"headers"`
	Body       []byte          `json:"body,omitempty"`
	Status     int             `json:"status"`
	RespHeader [][2]string     `json:"response_headers"`
	RespBody   []byte          `json:"response_body,omitempty"`
	Session    json.RawMessage `json:"session,omitempty"`
	HasSession bool            `json:"has_session,omitempty"`
	Remote     string          `json:"remote,omitempty"`
	Accepted   int64           `json:"accepted"`             // unix nanoseconds
	RequestID  string          `json:"request_id,omitempty"` // made before it was queued
	// Scripts are the queued scripts that matched where the event was accepted, in the order
	// they run; nil in a record published before they were carried.
	Scripts []scriptRef `json:"scripts"`
}

// scriptRef names a queued script in an eventRecord.
type scriptRef struct {
	Name    string `json:"name"`
	Version string `json:"version"` // scriptVersion of its source
}

// scriptVersion identifies a script's source: the first 8 bytes of its SHA-256, in hex.
func scriptVersion(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:8])
}

// record serializes the event copied in ev.
func (m *Middleware) record(ev *queuedEvent) ([]byte, error) {
	req, resp := &ev.ctx.Request, &ev.ctx.Response
	r := eventRecord{
		Method: string(req.Header.Method()), URI: string(req.RequestURI()), Host: string(req.Host()),
		Body: req.Body(), Status: resp.StatusCode(), RespBody: resp.Body(),
		HasSession: ev.hasSess, Remote: ev.conn.remote.String(), Accepted: time.Now().UnixNano(),
		RequestID: ev.requestID,
	}
	r.Scripts = make([]scriptRef, len(ev.scripts))
	for i, s := range ev.scripts {
		r.Scripts[i] = scriptRef{Name: s.Name, Version: scriptVersion(s.Source)}
	}
	for k, v := range req.Header.All() {
		r.Headers = append(r.Headers, [2]string{string(k), string(v)})
	}
	for k, v := range resp.Header.All() {
		r.RespHeader = append(r.RespHeader, [2]string{string(k), string(v)})
	}
	if ev.hasSess {
		if b, err := json.Marshal(ev.session); err == nil {
			r.Session = b
		} else {
			m.logger.Warn("fastlua: a queued event's session cannot be serialized: the queued scripts will see none",
				slog.Any("error", err))
			r.HasSession = false
		}
	}
	return json.Marshal(&r)
}

// restore fills ev from a serialized event and returns the scripts it names.
func (ev *queuedEvent) restore(data []byte) ([]scriptRef, error) {
	var r eventRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	req, resp := &ev.ctx.Request, &ev.ctx.Response
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.URI)
	for _, kv := range r.Headers {
		req.Header.Add(kv[0], kv[1])
	}
	if r.Host != "" {
		req.Header.SetHost(r.Host)
	}
	req.SetBody(r.Body)
	resp.SetStatusCode(r.Status)
	for _, kv := range r.RespHeader {
		resp.Header.Add(kv[0], kv[1])
	}
	resp.SetBody(r.RespBody)
	if r.HasSession {
		var s any
		if err := json.Unmarshal(r.Session, &s); err == nil {
			ev.session, ev.hasSess = s, true
		}
	}
	if addr, err := net.ResolveTCPAddr("tcp", r.Remote); err == nil {
		ev.conn.remote = addr
	}
	if saneRequestID([]byte(r.RequestID)) {
		ev.requestID = r.RequestID // its records carry its request's id on this instance too
	}
	return r.Scripts, nil
}

// publish hands an event to the backend; on failure the fallback applies.
func (q *queue) publish(ev *queuedEvent) {
	m := q.m
	data, err := m.record(ev)
	if err == nil {
		err = q.publishData(data)
	}
	if err == nil {
		q.published.Add(1)
		q.done.Add(1)
		ev.release()
		return
	}
	q.fallbacks.Add(1)
	if m.cfg.QueueFallback == FallbackDrop {
		q.failed.Add(1)
		m.logger.Error("fastlua: queued event dropped: the queue backend refused it (Config.QueueFallback is FallbackDrop)",
			slog.String("request", string(ev.ctx.Method())+" "+string(ev.ctx.Path())), slog.Any("error", err))
		ev.release()
		return
	}
	level := slog.LevelWarn
	if errors.Is(err, errBackendPaused) {
		level = slog.LevelDebug // the failure that paused the backend was logged
	}
	m.logger.Log(context.Background(), level, "fastlua: the queue backend refused a queued event: running it here (FallbackLocal)", slog.Any("error", err))
	q.run(ev)
}

// backendPause is how long after a Publish that ran out of time events take the fallback
// without trying the backend (then one Publish tries it again).
const backendPause = time.Second

// errBackendPaused is the error of an event not offered to a backend that stalled a moment ago.
var errBackendPaused = errors.New("fastlua: the queue backend did not answer in time a moment ago: not tried again yet")

// publishData publishes one serialized event, unless the backend stalled a moment ago: a
// backend that stalls (a Redis that answers nothing) would otherwise hold each event, on one of
// the queue's workers, for all of Config.HTTPTimeout before the fallback, and the queue would
// fill with events it promised to run here. After a Publish that ran out of time, events take
// the fallback at once for backendPause; then one Publish at a time tries the backend, and the
// first that does not run out of time ends the pause. A quick refusal (a full stream, a Redis
// refusing connections) pauses nothing: the next event costs no more.
func (q *queue) publishData(data []byte) error {
	probe := false
	if until := q.backendDownUntil.Load(); until != 0 {
		if time.Now().UnixNano() < until || !q.probing.CompareAndSwap(false, true) {
			return errBackendPaused
		}
		probe = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.m.cfg.HTTPTimeout)
	err := q.m.cfg.QueueBackend.Publish(ctx, data)
	stalled := ctx.Err() != nil // a quick refusal (full, down) costs the next event nothing
	cancel()
	switch {
	case err != nil && stalled:
		q.backendDownUntil.Store(time.Now().Add(backendPause).UnixNano())
	case q.backendDownUntil.Load() != 0:
		q.backendDownUntil.Store(0)
	}
	if probe {
		q.probing.Store(false)
	}
	return err
}

// consume runs the consumer loops until Close.
func (q *queue) consume(ctx context.Context, n int) {
	for i := 0; i < n; i++ {
		q.consumers.Add(1)
		go func() {
			defer q.consumers.Done()
			for ctx.Err() == nil {
				err := q.m.cfg.QueueBackend.Consume(ctx, q.handleDelivery)
				if ctx.Err() != nil {
					return
				}
				q.m.logger.Error("fastlua: consuming queued events failed; trying again in a second", slog.Any("error", err))
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
}

// handleDelivery runs the queued scripts of an event delivered by the backend, and decides
// what becomes of it: done, not here (retry later), or given up (dead-letter).
func (q *queue) handleDelivery(d Delivery) Outcome {
	m := q.m
	ev := queuedPool.Get().(*queuedEvent)
	defer ev.release()
	ev.init(m, nil, nil)
	if d.Event == nil {
		return q.deadLetter(d, "", "the backend lost the event's data")
	}
	wanted, err := ev.restore(d.Event)
	if err != nil {
		// A record that cannot be read will not become readable.
		return q.deadLetter(d, "", "the event cannot be read: "+err.Error())
	}
	ev.next = q.consumeNext
	request := string(ev.ctx.Method()) + " " + string(ev.ctx.Path())
	x, _ := m.getExchange(m.routes.Load(), &ev.ctx, ev.next)
	defer putExchange(x)
	_, _, here := x.phases()
	var missing []string
	ev.scripts, missing = q.pick(d, wanted, here, ev.scripts[:0])
	if len(ev.scripts) == 0 || len(missing) > 0 {
		return q.notHere(d, request, missing)
	}
	if d.Attempt > m.cfg.QueueMaxAttempts {
		// Only consumers that stopped while running it deliver an event this often: one that
		// brings its consumers down must not go round them for ever.
		return q.deadLetter(d, request, fmt.Sprintf("delivered %d times, more than Config.QueueMaxAttempts: its consumers stopped before it finished", d.Attempt))
	}
	x.session, x.sessionDone = ev.session, ev.hasSess
	x.queueID, x.requestID = d.ID, ev.requestID
	q.delivered.Add(1)
	if !x.runPhase(bridge.Queued, ev.scripts) {
		if x.noState {
			// No state (Close gave up waiting for one): the scripts did not run, or not all
			// of them; another consumer takes the event at once (and runs them all: at least
			// once).
			q.delivered.Add(^uint64(0))
			q.retried.Add(1)
			m.logger.Warn("fastlua: a delivered event's queued scripts got no Lua state: released for another consumer",
				slog.String("id", d.ID), slog.String("request", request), slog.Int("attempt", d.Attempt))
			return Outcome{Action: DeliveryRetry}
		}
		q.failed.Add(1) // logged by runPhase; a script that ran and failed is not retried
	}
	return Outcome{Action: DeliveryAck}
}

// pick appends to dst the scripts here that an event names (wanted, in its order) and returns
// the names it lacks. A record that names none (published before records named them) gets the
// queued scripts that match it here.
func (q *queue) pick(d Delivery, wanted []scriptRef, here, dst []*script) ([]*script, []string) {
	if wanted == nil {
		return append(dst, here...), nil
	}
	var missing []string
next:
	for _, w := range wanted {
		for _, s := range here {
			if s.Name == w.Name {
				if v := scriptVersion(s.Source); v != w.Version {
					q.m.logger.Debug("fastlua: a delivered event's queued script runs in the version installed here, not the one it was accepted with",
						slog.String("id", d.ID), slog.String("script", s.Name), slog.String("version", v), slog.String("accepted_with", w.Version))
				}
				dst = append(dst, s)
				continue next
			}
		}
		missing = append(missing, w.Name)
	}
	return dst, missing
}

// notHere decides about an event whose queued scripts are not all here (missing names them;
// none when no queued script matches it here): another consumer may have them (or this one
// may get them), so it is retried, until Config.QueueMaxAttempts.
func (q *queue) notHere(d Delivery, request string, missing []string) Outcome {
	cfg := &q.m.cfg
	lacked := "a queued script for it"
	if len(missing) > 0 {
		lacked = "its queued scripts (" + strings.Join(missing, ", ") + " missing here)"
	}
	if d.Attempt >= cfg.QueueMaxAttempts {
		return q.deadLetter(d, request, fmt.Sprintf("no consumer had %s in %d attempts (Config.QueueMaxAttempts)", lacked, d.Attempt))
	}
	after := retryDelay(cfg.QueueRetryDelay, d.Attempt)
	q.retried.Add(1)
	q.m.logger.Debug("fastlua: a delivered event's queued scripts are not all here: released for another consumer",
		slog.String("id", d.ID), slog.String("request", request), slog.Any("missing", missing),
		slog.Int("attempt", d.Attempt), slog.Duration("retry_after", after))
	return Outcome{Action: DeliveryRetry, After: after}
}

// deadLetter gives up on an event: logged, counted, and moved to the backend's dead-letter place.
func (q *queue) deadLetter(d Delivery, request, reason string) Outcome {
	q.deadLettered.Add(1)
	q.m.logger.Error("fastlua: queued event dead-lettered: "+reason,
		slog.String("id", d.ID), slog.String("request", request), slog.Int("attempt", d.Attempt))
	return Outcome{Action: DeliveryDeadLetter, Reason: reason}
}

// retryDelay is the backoff after the given attempt: base, doubled on each attempt, at most
// maxRetryDelay (or base, when that is longer).
func retryDelay(base time.Duration, attempt int) time.Duration {
	ceiling := max(maxRetryDelay, base)
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// maxRetryDelay caps the doubling of Config.QueueRetryDelay.
const maxRetryDelay = 30 * time.Second

// localQueueID numbers the queued events run in process, for event.queue_id.
var localQueueID atomic.Uint64

func nextLocalQueueID() string { return "local-" + strconv.FormatUint(localQueueID.Add(1), 10) }
