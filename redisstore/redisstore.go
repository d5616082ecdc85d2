// Package redisstore shares fastlua's platform.store and queued events between processes through
// Redis, so that several fastlua servers behind a load balancer enforce one rate limit and
// do not lose queued work when one of them dies.
//
//	rdb := redis.NewClient(opts)
//	mw, err := fastlua.New(fastlua.Config{
//		Store:        redisstore.NewStore(rdb, "fastlua:"),
//		QueueBackend: redisstore.NewQueue(rdb, redisstore.QueueConfig{}),
//	})
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
// Queued events are appended (XADD, as JSON) to a stream whose length is bounded (MAXLEN ~).
// Consumers in any number of processes read it through one consumer group (XREADGROUP) and
// acknowledge (XACK) an event only after its queued scripts finished; entries a dead consumer left
// pending are claimed (XAUTOCLAIM) by another after QueueConfig.ClaimIdle. Delivery is at least
// once: a script that must not act twice keeps event.queue_id, the stream entry's id, which
// is the same on every delivery of an event. What happens when Redis cannot be reached is
// fastlua's Config.QueueFallback: the event runs in the process that accepted it, or is dropped
// and counted; a response never waits for Redis.
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
	rdb    redis.UniversalClient
	prefix string
}

// NewStore returns a store whose keys are prefix followed by the script's key.
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix}
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
	v, err := s.rdb.Get(ctx, s.prefix+key).Result()
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
	return s.rdb.Set(ctx, s.prefix+key, v, ms(ttl)).Err()
}

// Incr implements fastlua.Store with one round trip: a server-side script.
func (s *Store) Incr(ctx context.Context, key string, by float64, ttl time.Duration) (float64, error) {
	res, err := incrScript.Run(ctx, s.rdb, []string{s.prefix + key},
		strconv.FormatFloat(by, 'g', -1, 64), ms(ttl).Milliseconds()).Text()
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
	return s.rdb.Del(ctx, s.prefix+key).Err()
}

// QueueConfig configures a Queue. Its zero value works.
type QueueConfig struct {
	// Stream is the stream's key. Default "fastlua:queued".
	Stream string
	// Group is the consumer group. Default "fastlua".
	Group string
	// Consumer names this process in the group. Default the host name and process id.
	Consumer string
	// MaxLen bounds the stream (approximately: XADD MAXLEN ~). Default 1,000,000.
	MaxLen int64
	// ClaimIdle is how long the entries of a consumer that stopped (a process killed, a host
	// gone) stay pending before another consumer claims them. A live consumer renews its
	// entries every ClaimIdle/3, however long its scripts run. Default 30 seconds.
	ClaimIdle time.Duration
	// Block is how long a read waits for new entries. Default one second.
	Block time.Duration
	// Batch is how many entries a consumer reads at a time. Entries read ahead wait for the
	// ones before them: lower it when queued scripts are slow and several processes share the
	// work. Default 16.
	Batch int64
}

// Queue is a fastlua.QueueBackend on Redis Streams.
type Queue struct {
	rdb redis.UniversalClient
	cfg QueueConfig
}

// NewQueue returns a queue on rdb.
func NewQueue(rdb redis.UniversalClient, cfg QueueConfig) *Queue {
	if cfg.Stream == "" {
		cfg.Stream = "fastlua:queued"
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
	return &Queue{rdb: rdb, cfg: cfg}
}

// Publish implements fastlua.QueueBackend: XADD with a bounded length.
func (q *Queue) Publish(ctx context.Context, event []byte) error {
	return q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.cfg.Stream, MaxLen: q.cfg.MaxLen, Approx: true,
		Values: []any{"event", event}}).Err()
}

// Consume implements fastlua.QueueBackend: entries left pending by a consumer that died are
// claimed first, then new ones are read; each is acknowledged when handle returns nil.
func (q *Queue) Consume(ctx context.Context, handle func(id string, event []byte) error) error {
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
			msgs, next, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q.cfg.Stream, Group: q.cfg.Group,
				Consumer: q.cfg.Consumer, MinIdle: q.cfg.ClaimIdle, Start: claimFrom, Count: q.cfg.Batch}).Result()
			if err != nil {
				return ctxOr(ctx, err)
			}
			if err := q.handle(ctx, h, msgs, handle); err != nil {
				return err
			}
			if claimFrom = next; next == "0-0" {
				nextClaim = now.Add(q.cfg.ClaimIdle / 4)
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
			if err := q.handle(ctx, h, st.Messages, handle); err != nil {
				return err
			}
		}
	}
	return nil
}

// held is the set of entries a Consume call has read and not yet finished.
type held struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// renew keeps the entries in h from looking abandoned: every ClaimIdle/3 it resets their idle
// time (XCLAIM to this consumer, JUSTID: the delivery count is not raised), so that another
// consumer's XAUTOCLAIM takes them only when this process stopped renewing.
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
		ids := make([]string, 0, len(h.ids))
		for id := range h.ids {
			ids = append(ids, id)
		}
		h.mu.Unlock()
		if len(ids) > 0 {
			// A failed renewal is retried on the next tick; if they all fail, Redis is away and
			// nobody can claim the entries either.
			_ = q.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: q.cfg.Stream, Group: q.cfg.Group,
				Consumer: q.cfg.Consumer, Messages: ids}).Err()
		}
	}
}

func (q *Queue) handle(ctx context.Context, h *held, msgs []redis.XMessage, handle func(string, []byte) error) error {
	h.mu.Lock()
	for _, msg := range msgs {
		h.ids[msg.ID] = struct{}{}
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		clear(h.ids)
		h.mu.Unlock()
	}()
	for _, msg := range msgs {
		data, _ := msg.Values["event"].(string)
		err := handle(msg.ID, []byte(data))
		h.mu.Lock()
		delete(h.ids, msg.ID) // acknowledged below, or left to be claimed after ClaimIdle
		h.mu.Unlock()
		if err != nil {
			continue
		}
		if err := q.rdb.XAck(context.WithoutCancel(ctx), q.cfg.Stream, q.cfg.Group, msg.ID).Err(); err != nil {
			return err
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
