// Package redisstore shares fastlua's platform.store and queued events between processes through
// Redis, so that several fastlua servers behind a load balancer enforce one rate limit and
// do not lose queued work when one of them dies.
//
//	rdb := redis.NewClient(opts)
//	mw, err := fastlua.New(fastlua.Config{
//		Store:        redisstore.NewStore(rdb, "fastlua:"),
//		QueueBackend: redisstore.NewQueue(rdb, redisstore.QueueConfig{}),
//	})
//	h := mw.Wrap(handler)
//	err = mw.Consume(handler) // run the queued events any instance published
//
// # Store
//
// Values keep their Lua type across the trip: a number is stored as Redis stores numbers (so
// INCRBYFLOAT works on it and other clients can read it), a string with an "s:" prefix, a boolean
// as "b:1" or "b:0", a table as "j:" and its JSON. Numbers are float64, as in Lua. incr is one
// server-side script: INCRBYFLOAT, and a PEXPIRE only when the key did not exist before, so a
// counter with a ttl counts over a fixed window, as the in-process store's does.
//
// # Queue
//
// Queued events are appended (XADD, as JSON) to a stream. Consumers in any number of processes
// read it through one consumer group (XREADGROUP) and acknowledge (XACK) an event only after
// its queued scripts finished. Delivery is at least
// once: a script that must not act twice keeps event.queue_id, the stream entry's id, which is
// the same on every delivery of an event. What happens when Redis cannot be reached is
// fastlua's Config.QueueFallback: the event runs in the process that accepted it, or is dropped
// and counted; a response never waits for Redis.
//
// An entry stays pending (XPENDING) in the group from its delivery to its acknowledgement, and
// its idle time says who may take it. A consumer renews the entries it holds every ClaimIdle/3
// (XCLAIM to itself, JUSTID: the delivery count stays), so no other consumer ever takes an entry
// a live consumer is running, however long its scripts take. Entries idle for ClaimIdle (a
// consumer that died) are claimed by the next consumer that looks (every Block, or
// ClaimIdle/4 if shorter), in a server-side script that reads the delivery counts and
// increments them in one step: the count is the attempt number fastlua decides on. A consumer
// that lacks one of an event's queued scripts releases it: the entry's idle time is set to
// ClaimIdle minus the backoff fastlua asked for (XCLAIM IDLE), so it becomes claimable after the
// backoff (at most ClaimIdle), and the consumer that released it leaves it to the others for
// two claim intervals more before it takes it back itself. A consumer that stops releases the
// entries it read ahead and did not start, claimable at once. Giving up on an event is one
// server-side script too: the entry is added to the dead-letter stream (QueueConfig.DeadLetter,
// with the fields id, event, reason, attempts and consumer) and acknowledged at once. Releases,
// dead letters and renewals act only on entries this consumer still owns. An entry deleted
// from the stream (XDEL) before it ran is dead-lettered without its event.
//
// The stream's length is bounded without losing work. An entry leaves it only once every
// consumer group on it has acknowledged it and every entry before it: once a claim interval, a
// consumer trims the stream (XTRIM MINID) below the oldest entry some group has pending or has
// not read. A Publish that finds QueueConfig.MaxLen entries after such a trim refuses the event
// with ErrStreamFull, so fastlua's Config.QueueFallback applies (the event runs in the process
// that accepted it, or is dropped and counted); it never trims an entry that has not run.
// Entries acknowledged after one still pending stay until it is acknowledged, and count
// towards MaxLen; a consumer group nobody reads any more holds every entry it has not
// acknowledged: delete it (XGROUP DESTROY).
//
// # Deadlines
//
// A platform.store call gets the rest of its script's time limit as its context's deadline, and
// a Publish fastlua's Config.HTTPTimeout; both end then, whatever Redis does, so a stalled Redis
// holds no Lua state past its script's limit. go-redis applies a context's deadline to the
// socket only in a client made with ContextTimeoutEnabled: true; make yours so:
//
//	opts, err := redis.ParseURL(url)
//	opts.ContextTimeoutEnabled = true // a call ends at its context's deadline
//	rdb := redis.NewClient(opts)
//
// With another client (any whose options do not say so, or a type this package does not know),
// each call runs on a goroutine of its own, which the call leaves at its deadline: that
// goroutine ends, and gives its connection back, only at the client's ReadTimeout (3 seconds by
// default), so a stalled Redis piles them up.
//
// The queue needs Redis 6.2 or later. In Redis Cluster the stream and its dead-letter stream
// must share a hash slot: give them one hash tag ({fastlua}:queued and {fastlua}:queued:dead).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/redis/go-redis/v9"
)

// Store is a fastlua.Store on Redis.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	honours bool // rdb bounds its socket I/O by the context (honoursContext)
}

// NewStore returns a store whose keys are prefix followed by the script's key.
//
// Make rdb with ContextTimeoutEnabled: true (see "Deadlines" in the package doc): then a call
// ends at the script's deadline by itself. Without it, each call runs on a goroutine of its own
// that is abandoned at the deadline and ends at the client's ReadTimeout, holding a
// connection until then.
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, honours: honoursContext(rdb)}
}

// honoursContext reports whether rdb bounds its socket reads and writes by a call's context
// (ContextTimeoutEnabled). go-redis ignores a context's deadline on the socket otherwise; a
// client of a type it does not know is assumed not to.
func honoursContext(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// bounded returns call's result, or an error when ctx ends first. When the client does not
// bound its socket I/O by ctx itself (honours false), call runs on a goroutine of its own,
// left to end at the client's own timeouts if ctx ends first (its result is dropped).
func bounded[T any](ctx context.Context, honours bool, call func(context.Context) (T, error)) (T, error) {
	if honours || ctx.Done() == nil {
		return call(ctx)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("redisstore: Redis did not answer in time: %w", ctx.Err())
	}
}

// bounded0 is bounded for a call that returns only an error.
func bounded0(ctx context.Context, honours bool, call func(context.Context) error) error {
	_, err := bounded(ctx, honours, func(ctx context.Context) (struct{}, error) { return struct{}{}, call(ctx) })
	return err
}

// incrScript adds ARGV[1] to KEYS[1] and gives a key that did not exist the ttl ARGV[2] (ms).
var incrScript = redis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
local n = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
`)

func encode(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return "s:" + v, nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		if v {
			return "b:1", nil
		}
		return "b:0", nil
	case fastlua.JSON:
		return "j:" + string(v), nil
	}
	return "", fmt.Errorf("redisstore: cannot store a %T", v)
}

func decode(s string) (any, error) {
	switch {
	case strings.HasPrefix(s, "s:"):
		return s[2:], nil
	case strings.HasPrefix(s, "j:"):
		return fastlua.JSON(s[2:]), nil
	case s == "b:1":
		return true, nil
	case s == "b:0":
		return false, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("redisstore: a value that fastlua did not store: %q", s)
	}
	return f, nil
}

func ms(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return max(ttl, time.Millisecond)
}

// Get implements fastlua.Store.
func (s *Store) Get(ctx context.Context, key string) (any, bool, error) {
	v, err := bounded(ctx, s.honours, func(ctx context.Context) (string, error) { return s.rdb.Get(ctx, s.prefix+key).Result() })
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	val, err := decode(v)
	return val, err == nil, err
}

// Set implements fastlua.Store.
func (s *Store) Set(ctx context.Context, key string, value any, ttl time.Duration) error {
	v, err := encode(value)
	if err != nil {
		return err
	}
	return bounded0(ctx, s.honours, func(ctx context.Context) error { return s.rdb.Set(ctx, s.prefix+key, v, ms(ttl)).Err() })
}

// Incr implements fastlua.Store with one round trip: a server-side script.
func (s *Store) Incr(ctx context.Context, key string, by float64, ttl time.Duration) (float64, error) {
	res, err := bounded(ctx, s.honours, func(ctx context.Context) (string, error) {
		return incrScript.Run(ctx, s.rdb, []string{s.prefix + key}, strconv.FormatFloat(by, 'g', -1, 64), ms(ttl).Milliseconds()).Text()
	})
	if err != nil {
		if strings.Contains(err.Error(), "not a valid float") {
			return 0, fastlua.ErrNotNumber
		}
		return 0, err
	}
	return strconv.ParseFloat(res, 64)
}

// Delete implements fastlua.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	return bounded0(ctx, s.honours, func(ctx context.Context) error { return s.rdb.Del(ctx, s.prefix+key).Err() })
}

// QueueConfig configures a Queue. Its zero value works.
type QueueConfig struct {
	// Stream is the stream's key. Default "fastlua:queued".
	Stream string
	// DeadLetter is the key of the stream that events fastlua gave up on go to. Default
	// Stream + ":dead".
	DeadLetter string
	// Group is the consumer group. Default "fastlua".
	Group string
	// Consumer names this process in the group. Default the host name and process id.
	Consumer string
	// MaxLen bounds the stream: a Publish that finds it holding MaxLen entries, once the ones
	// every consumer group acknowledged are trimmed, refuses the event with ErrStreamFull (and
	// fastlua's Config.QueueFallback runs it in that process, or drops and counts it); an
	// entry not yet acknowledged is never trimmed. It bounds the dead-letter stream too, which
	// keeps about the newest MaxLen dead letters (XADD MAXLEN ~). Default 1,000,000.
	MaxLen int64
	// ClaimIdle is how long the entries of a consumer that stopped (a process killed, a host
	// gone) stay pending before another consumer claims them. A live consumer renews its
	// entries every ClaimIdle/3, however long its scripts run. It also bounds the backoff of an
	// event released for another consumer. Default 30 seconds.
	ClaimIdle time.Duration
	// Block is how long a read waits for new entries, and how often a consumer looks for
	// entries to claim (ClaimIdle/4, if that is shorter). Default one second.
	Block time.Duration
	// Batch is how many entries a consumer reads at a time. Entries read ahead wait for the
	// ones before them: lower it when queued scripts are slow and several processes share the
	// work. Default 16.
	Batch int64
}

// Queue is a fastlua.QueueBackend on Redis Streams.
type Queue struct {
	rdb     redis.UniversalClient
	cfg     QueueConfig
	honours bool // rdb bounds its socket I/O by the context (honoursContext)
}

// NewQueue returns a queue on rdb. Make rdb with ContextTimeoutEnabled: true, as for NewStore:
// without it, a Publish to a Redis that does not answer is abandoned at its deadline (fastlua's
// Config.HTTPTimeout) on a goroutine that ends at the client's ReadTimeout.
func NewQueue(rdb redis.UniversalClient, cfg QueueConfig) *Queue {
	if cfg.Stream == "" {
		cfg.Stream = "fastlua:queued"
	}
	if cfg.DeadLetter == "" {
		cfg.DeadLetter = cfg.Stream + ":dead"
	}
	if cfg.Group == "" {
		cfg.Group = "fastlua"
	}
	if cfg.Consumer == "" {
		host, _ := os.Hostname()
		cfg.Consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = 1_000_000
	}
	if cfg.ClaimIdle <= 0 {
		cfg.ClaimIdle = 30 * time.Second
	}
	if cfg.Block <= 0 {
		cfg.Block = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	return &Queue{rdb: rdb, cfg: cfg, honours: honoursContext(rdb)}
}

// ErrStreamFull is the error of a Publish that found the stream holding QueueConfig.MaxLen
// entries after the ones every consumer group acknowledged were trimmed: the event is refused,
// and fastlua's Config.QueueFallback applies.
var ErrStreamFull = errors.New("redisstore: the queue's stream is full of events its consumer groups have not acknowledged")

// trimLua defines trim(stream): it removes the entries of the stream that every consumer group
// has acknowledged, those before the oldest entry some group has pending or has not read yet
// (XTRIM MINID). A stream without a group keeps every entry.
const trimLua = `
local function before(a, b) -- stream ids a < b
  local am, as = a:match('^(%d+)-(%d+)$')
  local bm, bs = b:match('^(%d+)-(%d+)$')
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
local function trim(stream)
  local groups = redis.call('XINFO', 'GROUPS', stream)
  if #groups == 0 then return end
  local floor = nil -- the oldest entry some group has not acknowledged; nil: none
  for _, g in ipairs(groups) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    local oldest = nil
    local p = redis.call('XPENDING', stream, name)
    if p[1] > 0 then
      oldest = p[2]
    else
      local unread = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)
      if #unread > 0 then oldest = unread[1][1] end
    end
    if oldest and (floor == nil or before(oldest, floor)) then floor = oldest end
  end
  if floor then
    redis.call('XTRIM', stream, 'MINID', floor)
  else
    redis.call('XTRIM', stream, 'MAXLEN', 0)
  end
end
`

// publishScript appends the event ARGV[2] to the stream KEYS[1] unless it holds ARGV[1]
// entries after trim: then it returns false (nil).
var publishScript = redis.NewScript(trimLua + `
local stream, maxLen = KEYS[1], tonumber(ARGV[1])
if redis.call('XLEN', stream) >= maxLen then
  trim(stream)
  if redis.call('XLEN', stream) >= maxLen then return false end
end
return redis.call('XADD', stream, '*', 'event', ARGV[2])
`)

// trimScript trims the stream KEYS[1] (trim) and returns its length.
var trimScript = redis.NewScript(trimLua + `
trim(KEYS[1])
return redis.call('XLEN', KEYS[1])
`)

// Publish implements fastlua.QueueBackend: XADD, unless the stream holds MaxLen entries not
// every consumer group has acknowledged (ErrStreamFull); one server-side script.
func (q *Queue) Publish(ctx context.Context, event []byte) error {
	err := bounded0(ctx, q.honours, func(ctx context.Context) error {
		return publishScript.Run(ctx, q.rdb, []string{q.cfg.Stream}, q.cfg.MaxLen, event).Err()
	})
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: %d entries (QueueConfig.MaxLen)", ErrStreamFull, q.cfg.MaxLen)
	}
	return err
}

// claimEvery is how often a consumer looks for entries to claim.
func (q *Queue) claimEvery() time.Duration { return min(q.cfg.Block, q.cfg.ClaimIdle/4) }

// Consume implements fastlua.QueueBackend: entries left pending by a consumer that died, or
// released by one that could not run them, are claimed first, then new ones are read; each is
// acknowledged, released or dead-lettered as handle decides.
func (q *Queue) Consume(ctx context.Context, handle func(fastlua.Delivery) fastlua.Outcome) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.cfg.Stream, q.cfg.Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	h := &held{ids: map[string]struct{}{}}
	renewing, stop := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() { defer close(renewed); q.renew(renewing, h) }()
	defer func() { stop(); <-renewed }()

	claimFrom := "0-0"
	nextClaim := time.Time{}
	for ctx.Err() == nil {
		if now := time.Now(); now.After(nextClaim) {
			ds, next, err := q.claim(ctx, claimFrom)
			if err != nil {
				return ctxOr(ctx, err)
			}
			if err := q.handle(ctx, h, ds, handle); err != nil {
				return err
			}
			if claimFrom = next; next == "0-0" {
				nextClaim = now.Add(q.claimEvery())
				// Once a claim interval: what every group has acknowledged leaves the stream.
				if err := trimScript.Run(ctx, q.rdb, []string{q.cfg.Stream}).Err(); err != nil {
					return ctxOr(ctx, err)
				}
			}
		}
		streams, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: q.cfg.Group, Consumer: q.cfg.Consumer,
			Streams: []string{q.cfg.Stream, ">"}, Count: q.cfg.Batch, Block: q.cfg.Block}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return ctxOr(ctx, err)
		}
		for _, st := range streams {
			ds := make([]fastlua.Delivery, len(st.Messages))
			for i, msg := range st.Messages {
				data, _ := msg.Values["event"].(string)
				ds[i] = fastlua.Delivery{ID: msg.ID, Event: []byte(data), Attempt: 1} // a first delivery
			}
			if err := q.handle(ctx, h, ds, handle); err != nil {
				return err
			}
		}
	}
	return nil
}

// claimScript claims up to ARGV[6] entries idle for ARGV[3] ms or more, from the cursor ARGV[5]
// on, for the consumer ARGV[2] of the group ARGV[1]; entries the consumer owns itself (it
// released them) only once idle for ARGV[4] ms. It returns the next cursor ("0-0" at the end)
// and, per entry, its id, its delivery count after the claim and its fields (false for an
// entry the stream no longer holds).
var claimScript = redis.NewScript(`
local stream, group, me = KEYS[1], ARGV[1], ARGV[2]
local minIdle, ownIdle = tonumber(ARGV[3]), tonumber(ARGV[4])
local start, count = ARGV[5], tonumber(ARGV[6])
local out, scanned = {}, 0
while #out < count and scanned < count * 10 do
  local page = redis.call('XPENDING', stream, group, 'IDLE', minIdle, start, '+', count)
  if #page == 0 then return {'0-0', out} end
  for _, p in ipairs(page) do
    scanned = scanned + 1
    start = '(' .. p[1]
    if p[2] ~= me or p[3] >= ownIdle then
      local m = redis.call('XCLAIM', stream, group, me, minIdle, p[1])
      local fields = false
      if m[1] then fields = m[1][2] end
      out[#out + 1] = {p[1], p[4] + 1, fields}
      if #out >= count then break end
    end
  end
end
return {start, out}
`)

// claim runs claimScript from the cursor and returns the deliveries and the next cursor.
func (q *Queue) claim(ctx context.Context, from string) ([]fastlua.Delivery, string, error) {
	ownIdle := q.cfg.ClaimIdle + 2*q.claimEvery()
	res, err := claimScript.Run(ctx, q.rdb, []string{q.cfg.Stream}, q.cfg.Group, q.cfg.Consumer,
		q.cfg.ClaimIdle.Milliseconds(), ownIdle.Milliseconds(), from, q.cfg.Batch).Slice()
	if err != nil {
		return nil, "", err
	}
	if len(res) != 2 {
		return nil, "", fmt.Errorf("redisstore: an unexpected claim result: %v", res)
	}
	next, _ := res[0].(string)
	entries, _ := res[1].([]any)
	ds := make([]fastlua.Delivery, 0, len(entries))
	for _, e := range entries {
		f, _ := e.([]any)
		if len(f) != 3 {
			return nil, "", fmt.Errorf("redisstore: an unexpected claim result: %v", e)
		}
		d := fastlua.Delivery{}
		d.ID, _ = f[0].(string)
		n, _ := f[1].(int64)
		d.Attempt = int(n)
		if fields, ok := f[2].([]any); ok {
			for i := 0; i+1 < len(fields); i += 2 {
				if k, _ := fields[i].(string); k == "event" {
					v, _ := fields[i+1].(string)
					d.Event = []byte(v)
				}
			}
		}
		ds = append(ds, d)
	}
	return ds, next, nil
}

// held is the set of entries a Consume call has read and not yet finished.
type held struct {
	mu  sync.Mutex // held over a renewal, so that an entry taken out of ids is not renewed after
	ids map[string]struct{}
}

// renewScript resets the idle time of the entries ARGV[3:] that the consumer ARGV[2] of the
// group ARGV[1] still owns (XCLAIM JUSTID: the delivery count stays).
var renewScript = redis.NewScript(`
local stream, group, me = KEYS[1], ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local p = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if #p > 0 and p[1][2] == me then
    redis.call('XCLAIM', stream, group, me, 0, ARGV[i], 'JUSTID')
  end
end
return 0
`)

// renew keeps the entries in h from looking abandoned: every ClaimIdle/3 it resets their idle
// time, so that another consumer claims them only when this process stopped renewing.
func (q *Queue) renew(ctx context.Context, h *held) {
	t := time.NewTicker(q.cfg.ClaimIdle / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		if len(h.ids) > 0 {
			args := []any{q.cfg.Group, q.cfg.Consumer}
			for id := range h.ids {
				args = append(args, id)
			}
			// A failed renewal is retried on the next tick; if they all fail, Redis is away and
			// nobody can claim the entries either.
			_ = renewScript.Run(ctx, q.rdb, []string{q.cfg.Stream}, args...).Err()
		}
		h.mu.Unlock()
	}
}

// releaseScript sets the idle time of the entry ARGV[3] to ARGV[4] ms, if the consumer ARGV[2]
// of the group ARGV[1] still owns it: it becomes claimable when its idle time reaches ClaimIdle.
var releaseScript = redis.NewScript(`
local stream, group, me, id = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local p = redis.call('XPENDING', stream, group, id, id, 1)
if #p == 0 or p[1][2] ~= me then return 0 end
redis.call('XCLAIM', stream, group, me, 0, id, 'IDLE', ARGV[4], 'JUSTID')
return 1
`)

// deadLetterScript moves the entry ARGV[3] of KEYS[1] to the stream KEYS[2] (bounded by
// ARGV[6]) with the reason ARGV[4] and the attempts ARGV[5], and acknowledges it, in one step;
// unless another consumer of the group ARGV[1] owns it now, or it was acknowledged already. An
// entry the stream no longer holds is recorded without its event.
var deadLetterScript = redis.NewScript(`
local stream, dead, group, me, id = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local p = redis.call('XPENDING', stream, group, id, id, 1)
local m = redis.call('XRANGE', stream, id, id)
if #p > 0 and p[1][2] ~= me then return 0 end
if #p == 0 and #m > 0 then return 0 end
local f = {'id', id, 'reason', ARGV[4], 'attempts', ARGV[5], 'consumer', me}
if #m > 0 then
  local v = m[1][2]
  for i = 1, #v, 2 do
    if v[i] == 'event' then f[#f + 1] = 'event'; f[#f + 1] = v[i + 1] end
  end
end
redis.call('XADD', dead, 'MAXLEN', '~', ARGV[6], '*', unpack(f))
redis.call('XACK', stream, group, id)
return 1
`)

// handle hands the deliveries to handle one at a time and does what each Outcome says. When
// ctx ends, the entries not yet handed over are released for the other consumers at once.
func (q *Queue) handle(ctx context.Context, h *held, ds []fastlua.Delivery, handle func(fastlua.Delivery) fastlua.Outcome) error {
	h.mu.Lock()
	for _, d := range ds {
		h.ids[d.ID] = struct{}{}
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		clear(h.ids)
		h.mu.Unlock()
	}()
	bg := context.WithoutCancel(ctx)
	for _, d := range ds {
		out := fastlua.Outcome{Action: fastlua.DeliveryRetry} // stopping: claimable by the others at once
		if ctx.Err() == nil {
			out = handle(d)
		}
		h.mu.Lock()
		delete(h.ids, d.ID) // waits for a renewal under way: none renews it after this
		h.mu.Unlock()
		var err error
		switch out.Action {
		case fastlua.DeliveryRetry:
			idle := max(q.cfg.ClaimIdle-out.After, 0)
			err = releaseScript.Run(bg, q.rdb, []string{q.cfg.Stream}, q.cfg.Group, q.cfg.Consumer, d.ID, idle.Milliseconds()).Err()
		case fastlua.DeliveryDeadLetter:
			err = deadLetterScript.Run(bg, q.rdb, []string{q.cfg.Stream, q.cfg.DeadLetter}, q.cfg.Group, q.cfg.Consumer,
				d.ID, out.Reason, d.Attempt, q.cfg.MaxLen).Err()
		default:
			err = q.rdb.XAck(bg, q.cfg.Stream, q.cfg.Group, d.ID).Err()
		}
		if err != nil {
			return err // the entry stays pending: claimed again after ClaimIdle
		}
	}
	return nil
}

// ctxOr returns nil when ctx ended (the error is the cancellation), else err.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

var (
	_ fastlua.Store        = (*Store)(nil)
	_ fastlua.QueueBackend = (*Queue)(nil)
)
