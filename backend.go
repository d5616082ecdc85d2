package fastlua

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
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
// Requests never wait for the backend: the copy goes on the local bounded queue as before, and
// the queue's workers publish it. When publishing fails, Config.QueueFallback says what happens:
// the event runs in this process (FallbackLocal, the default) or is dropped, logged and counted
// (FallbackDrop).

// QueueBackend carries serialized queued events between processes.
type QueueBackend interface {
	// Publish stores an event durably; when it returns nil, the event is accepted and will be
	// delivered to a consumer at least once.
	Publish(ctx context.Context, event []byte) error
	// Consume delivers events to handle, one at a time, until ctx ends, and returns then. An
	// event is acknowledged when handle returns nil, and delivered again (here or in another
	// process) when it returns an error or the process dies before it returns.
	Consume(ctx context.Context, handle func(id string, event []byte) error) error
}

// FallbackPolicy says what happens to a queued event its QueueBackend could not take.
type FallbackPolicy uint8

const (
	// FallbackLocal runs the event in this process, as without a backend.
	FallbackLocal FallbackPolicy = iota
	// FallbackDrop drops the event, logs it and counts it.
	FallbackDrop
)

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
	Accepted   int64           `json:"accepted"` // unix nanoseconds
}

// record serializes the event copied in ev.
func (m *Middleware) record(ev *queuedEvent) ([]byte, error) {
	req, resp := &ev.ctx.Request, &ev.ctx.Response
	r := eventRecord{
		Method: string(req.Header.Method()), URI: string(req.RequestURI()), Host: string(req.Host()),
		Body: req.Body(), Status: resp.StatusCode(), RespBody: resp.Body(),
		HasSession: ev.hasSess, Remote: ev.conn.remote.String(), Accepted: time.Now().UnixNano(),
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

// restore fills ev from a serialized event.
func (ev *queuedEvent) restore(data []byte) error {
	var r eventRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("fastlua: a queued event that is not one: %w", err)
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
	return nil
}

// publish hands an event to the backend; on failure the fallback applies.
func (q *queue) publish(ev *queuedEvent) {
	m := q.m
	data, err := m.record(ev)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.HTTPTimeout)
		err = m.cfg.QueueBackend.Publish(ctx, data)
		cancel()
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
	m.logger.Warn("fastlua: the queue backend refused a queued event: running it here (FallbackLocal)", slog.Any("error", err))
	q.run(ev)
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

// handleDelivery runs the queued scripts of an event delivered by the backend.
func (q *queue) handleDelivery(id string, data []byte) error {
	m := q.m
	ev := queuedPool.Get().(*queuedEvent)
	ev.conn = fakeConn{}
	ev.ctx.Init2(&ev.conn, m.fhLogger, false)
	if err := ev.restore(data); err != nil {
		ev.release()
		m.logger.Error("fastlua: a delivered queued event cannot be read; acknowledging it", slog.String("id", id), slog.Any("error", err))
		return nil // a record that cannot be read will not become readable
	}
	if ev.conn.remote == nil {
		ev.conn.remote = &net.TCPAddr{}
	}
	ev.next, _ = m.lastNext.Load().(fasthttp.RequestHandler)
	if ev.next == nil {
		ev.next = noHandler
	}
	rt := m.routes.Load()
	svc, path, ok := rt.service(ev.ctx.Path())
	var node *node
	if ok {
		node, ok = rt.serviceNode(svc)
	}
	if ok {
		x := m.getExchange(&ev.ctx, ev.next, path)
		x.session, x.sessionDone = ev.session, ev.hasSess
		x.queueID = id
		var buf [8]*script
		all := rt.match(node, x.path, x.segs, x.verb, buf[:0])
		var scripts []*script
		for _, s := range all {
			if s.pat.phase == bridge.Queued {
				scripts = append(scripts, s)
			}
		}
		if len(scripts) > 0 {
			q.delivered.Add(1)
			if !x.runPhase(bridge.Queued, scripts) {
				q.failed.Add(1)
			}
		}
		putExchange(x)
	}
	ev.release()
	return nil
}

// noHandler answers the platform.api calls of consumed queued events before any Wrap.
func noHandler(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	ctx.SetContentType("application/json")
	ctx.SetBody(errorBody(nil, fasthttp.StatusServiceUnavailable, "fastlua: no handler has been wrapped in this process"))
}

// localQueueID numbers the queued events run in process, for event.queue_id.
var localQueueID atomic.Uint64

func nextLocalQueueID() string { return "local-" + strconv.FormatUint(localQueueID.Add(1), 10) }
