package fastlua

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The store behind platform.store: the Store interface, and the memory store with its bounds
// (key and value sizes, entries, bytes) and expiry.

// Store is what platform.store reads and writes: a key/value store shared by all requests,
// atomic per key. The in-process MemoryStore is the default; a shared store (Redis, in the
// fastlua/redisstore package) lets several processes enforce one rate limit.
//
// Values are string, float64, bool, or JSON (a Lua table, encoded); a store must give back the
// type it was given. A ttl of zero or less means no expiry.
type Store interface {
	// Get returns the value of key; ok is false when there is none (or it expired).
	Get(ctx context.Context, key string) (value any, ok bool, err error)
	// Set stores value under key.
	Set(ctx context.Context, key string, value any, ttl time.Duration) error
	// Incr adds by to the number under key and returns the result. A missing (or expired) key
	// starts from zero and gets the ttl; an existing one keeps its expiry, so a counter with a
	// ttl counts over a fixed window. A value that is not a number is an error.
	Incr(ctx context.Context, key string, by float64, ttl time.Duration) (float64, error)
	// Delete removes key.
	Delete(ctx context.Context, key string) error
}

// JSON is a table stored in a Store: its JSON encoding.
type JSON []byte

// keyTooLong and valueTooLarge are the errors of a broken limit, set by field.
func keyTooLong(n, limit int, field string) error {
	return fmt.Errorf("%w: %d bytes, longer than %s (%s)", ErrKeyTooLong, n, sizeText(int64(limit)), field)
}

func valueTooLarge(n, limit int, field string) error {
	return fmt.Errorf("%w: %d bytes, larger than %s (%s)", ErrValueTooLarge, n, sizeText(int64(limit)), field)
}

// sizeText is n bytes as people write it: 1 MiB, 64 KiB, 1000 bytes.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// storedSize is the size of a stored value: a string's or a table's bytes, 8 for the rest.
func storedSize(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case JSON:
		return len(v)
	}
	return 8
}

// MemoryStoreConfig bounds a MemoryStore. Its zero value takes the defaults.
type MemoryStoreConfig struct {
	// MaxEntries bounds the number of entries. Default 1,048,576.
	MaxEntries int
	// MaxBytes bounds the memory of the entries: their keys and values, and 64 bytes each for
	// the rest. Default 256 MiB.
	MaxBytes int64
	// MaxKeySize bounds a key. Default 1 KiB.
	MaxKeySize int
	// MaxValueSize bounds a string or a table (its JSON). Default 1 MiB.
	MaxValueSize int
}

// entryOverhead is what an entry costs beyond its key and value: its map slot and its place in
// the expiry heap.
const entryOverhead = 64

// MemoryStore is the in-process Store: 64 maps (shards), each with a heap of its entries'
// expiry times. An expired entry is dropped when it is read, when a write to its shard finds
// it, a few at a time as writes go on (every 16th write looks at the next shard in turn), when
// the store is full (every expired entry is dropped before a new key is refused), and by a
// timer set for the next expiry (at most one sweep a second), so expired entries go even when
// nobody touches the store. A shard's map is rebuilt when it has shrunk to a quarter of
// its peak, because Go maps never give their memory back by themselves. Its zero value is not
// usable; use NewMemoryStore.
type MemoryStore struct {
	seed    maphash.Seed
	shards  [64]memShard
	now     func() time.Time
	cfg     MemoryStoreConfig
	entries atomic.Int64
	bytes   atomic.Int64
	writes  atomic.Uint64 // every 16th write drops expired entries of the next shard in turn

	sweepMu   sync.Mutex
	sweepAt   atomic.Int64 // when the sweep timer fires (unix nanoseconds); 0: not set
	lastSweep int64
	timer     *time.Timer
}

type memShard struct {
	mu   sync.Mutex
	m    map[string]memEntry
	exp  []expiring // a min-heap of the entries with an expiry; may hold stale items
	peak int        // the most entries m held since it was made
}

type memEntry struct {
	value   any
	expires int64 // unix nanoseconds; 0: never
}

type expiring struct {
	at  int64
	key string
}

// Shrinking: a shard's map is rebuilt when it holds a quarter of its peak, once the peak was at
// least shrinkFrom; its heap is rebuilt from the map when it holds more than twice the map.
const shrinkFrom = 1024

// sweepEvery is the least time between two sweeps by the timer.
const sweepEvery = time.Second

// NewMemoryStore returns an empty in-process store with the default bounds: 1,048,576 entries,
// 256 MiB, keys of at most 1 KiB, values of at most 1 MiB.
func NewMemoryStore() *MemoryStore { return NewMemoryStoreWith(MemoryStoreConfig{}) }

// NewMemoryStoreSize returns an empty in-process store of at most maxEntries entries, with the
// other bounds at their defaults.
func NewMemoryStoreSize(maxEntries int) *MemoryStore {
	return NewMemoryStoreWith(MemoryStoreConfig{MaxEntries: maxEntries})
}

// NewMemoryStoreWith returns an empty in-process store with the bounds of cfg: scripts share it
// across requests, so without bounds one of them could fill the memory. Setting a new key in a
// full store fails with ErrStoreFull, once every expired entry has been dropped.
func NewMemoryStoreWith(cfg MemoryStoreConfig) *MemoryStore {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1 << 20
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 20
	}
	if cfg.MaxKeySize <= 0 {
		cfg.MaxKeySize = 1 << 10
	}
	if cfg.MaxValueSize <= 0 {
		cfg.MaxValueSize = 1 << 20
	}
	s := &MemoryStore{seed: maphash.MakeSeed(), now: time.Now, cfg: cfg}
	for i := range s.shards {
		s.shards[i].m = map[string]memEntry{}
	}
	return s
}

func (s *MemoryStore) shard(key string) *memShard {
	return &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
}

func (e memEntry) expired(now int64) bool { return e.expires != 0 && now >= e.expires }

func expiry(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now + int64(ttl)
}

func entrySize(key string, v any) int64 { return int64(len(key) + storedSize(v) + entryOverhead) }

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) (any, bool, error) {
	if len(key) > s.cfg.MaxKeySize {
		return nil, false, keyTooLong(len(key), s.cfg.MaxKeySize, "MemoryStoreConfig.MaxKeySize")
	}
	sh := s.shard(key)
	now := s.now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		return nil, false, nil
	}
	if e.expired(now) {
		s.remove(sh, key, e)
		return nil, false, nil
	}
	return e.value, true, nil
}

// Set implements Store.
func (s *MemoryStore) Set(_ context.Context, key string, value any, ttl time.Duration) error {
	if len(key) > s.cfg.MaxKeySize {
		return keyTooLong(len(key), s.cfg.MaxKeySize, "MemoryStoreConfig.MaxKeySize")
	}
	if n := storedSize(value); n > s.cfg.MaxValueSize {
		return valueTooLarge(n, s.cfg.MaxValueSize, "MemoryStoreConfig.MaxValueSize")
	}
	if v, ok := value.(JSON); ok {
		value = JSON(append([]byte(nil), v...))
	}
	now := s.now().UnixNano()
	e := memEntry{value: value, expires: expiry(now, ttl)}
	size := entrySize(key, value)
	for swept := false; ; swept = true {
		sh := s.shard(key)
		sh.mu.Lock()
		s.evictExpired(sh, now, 4)
		var err error
		if old, ok := sh.m[key]; ok && !old.expired(now) {
			err = s.reserve(0, size-entrySize(key, old.value))
		} else {
			if ok {
				s.remove(sh, key, old)
			}
			err = s.reserve(1, size)
		}
		if err == nil {
			s.put(sh, key, e)
			sh.mu.Unlock()
			s.schedule(e.expires)
			s.sweepSome(now)
			return nil
		}
		sh.mu.Unlock()
		if swept {
			return err
		}
		s.evictAll(now)
	}
}

// Incr implements Store.
func (s *MemoryStore) Incr(_ context.Context, key string, by float64, ttl time.Duration) (float64, error) {
	if len(key) > s.cfg.MaxKeySize {
		return 0, keyTooLong(len(key), s.cfg.MaxKeySize, "MemoryStoreConfig.MaxKeySize")
	}
	now := s.now().UnixNano()
	for swept := false; ; swept = true {
		sh := s.shard(key)
		sh.mu.Lock()
		s.evictExpired(sh, now, 4)
		e, ok := sh.m[key]
		if ok && !e.expired(now) {
			n, isNum := e.value.(float64)
			if isNum {
				n += by
				e.value = n
				sh.m[key] = e
			}
			sh.mu.Unlock()
			if !isNum {
				return 0, ErrNotNumber
			}
			s.sweepSome(now)
			return n, nil
		}
		if ok {
			s.remove(sh, key, e)
		}
		if err := s.reserve(1, entrySize(key, by)); err != nil {
			sh.mu.Unlock()
			if swept {
				return 0, err
			}
			s.evictAll(now)
			continue
		}
		e = memEntry{value: by, expires: expiry(now, ttl)}
		s.put(sh, key, e)
		sh.mu.Unlock()
		s.schedule(e.expires)
		s.sweepSome(now)
		return by, nil
	}
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	if len(key) > s.cfg.MaxKeySize {
		return keyTooLong(len(key), s.cfg.MaxKeySize, "MemoryStoreConfig.MaxKeySize")
	}
	sh := s.shard(key)
	sh.mu.Lock()
	if e, ok := sh.m[key]; ok {
		s.remove(sh, key, e)
	}
	sh.mu.Unlock()
	return nil
}

// Len returns the number of entries, expired ones not yet dropped included.
func (s *MemoryStore) Len() int { return int(s.entries.Load()) }

// reserve counts entries and bytes an entry adds, or refuses them when they would pass a bound.
func (s *MemoryStore) reserve(entries, bytes int64) error {
	if n := s.entries.Add(entries); entries > 0 && n > int64(s.cfg.MaxEntries) {
		s.entries.Add(-entries)
		return fmt.Errorf("%w: %d entries (MemoryStoreConfig.MaxEntries)", ErrStoreFull, s.cfg.MaxEntries)
	}
	if n := s.bytes.Add(bytes); bytes > 0 && n > s.cfg.MaxBytes {
		s.bytes.Add(-bytes)
		s.entries.Add(-entries)
		return fmt.Errorf("%w: %s (MemoryStoreConfig.MaxBytes)", ErrStoreFull, sizeText(s.cfg.MaxBytes))
	}
	return nil
}

// put stores e under key, whose entries and bytes are reserved. sh.mu is held.
func (s *MemoryStore) put(sh *memShard, key string, e memEntry) {
	sh.m[key] = e
	sh.peak = max(sh.peak, len(sh.m))
	if e.expires != 0 {
		sh.push(expiring{at: e.expires, key: key})
		if len(sh.exp) > 2*len(sh.m)+64 {
			sh.rebuildHeap()
		}
	}
}

// remove drops the entry e of key, and shrinks the shard when it has emptied. sh.mu is held.
func (s *MemoryStore) remove(sh *memShard, key string, e memEntry) {
	delete(sh.m, key)
	s.entries.Add(-1)
	s.bytes.Add(-entrySize(key, e.value))
	if sh.peak >= shrinkFrom && len(sh.m) <= sh.peak/4 {
		m := make(map[string]memEntry, len(sh.m))
		for k, v := range sh.m {
			m[k] = v
		}
		sh.m, sh.peak = m, len(m)
	}
	if len(sh.exp) > 2*len(sh.m)+64 {
		sh.rebuildHeap()
	}
}

// evictExpired drops up to limit (all, when negative) of the shard's expired entries, earliest
// first. sh.mu is held.
func (s *MemoryStore) evictExpired(sh *memShard, now int64, limit int) {
	for limit != 0 && len(sh.exp) > 0 && sh.exp[0].at <= now {
		it := sh.pop()
		if e, ok := sh.m[it.key]; ok && e.expired(now) {
			s.remove(sh, it.key, e)
			limit--
		}
	}
}

// sweepSome drops up to 32 expired entries of the next shard in turn every 16 writes, so that
// expired entries go as writes go on, wherever they are.
func (s *MemoryStore) sweepSome(now int64) {
	w := s.writes.Add(1)
	if w%16 != 0 {
		return
	}
	sh := &s.shards[(w/16)%uint64(len(s.shards))]
	sh.mu.Lock()
	s.evictExpired(sh, now, 32)
	sh.mu.Unlock()
}

// evictAll drops every expired entry.
func (s *MemoryStore) evictAll(now int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.evictExpired(sh, now, -1)
		sh.mu.Unlock()
	}
}

// schedule makes sure the sweep timer fires by the expiry at (unix nanoseconds; 0: none), or
// sweepEvery after the last sweep, whichever is later.
func (s *MemoryStore) schedule(at int64) {
	if at == 0 {
		return
	}
	if cur := s.sweepAt.Load(); cur != 0 && cur <= at {
		return
	}
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	at = max(at, s.lastSweep+int64(sweepEvery))
	if cur := s.sweepAt.Load(); cur != 0 && cur <= at {
		return
	}
	s.sweepAt.Store(at)
	d := time.Duration(at - s.now().UnixNano())
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.sweep)
	} else {
		s.timer.Reset(d)
	}
}

// sweep drops every expired entry and sets the timer for the next expiry.
func (s *MemoryStore) sweep() {
	now := s.now().UnixNano()
	s.sweepMu.Lock()
	s.sweepAt.Store(0)
	s.lastSweep = now
	s.sweepMu.Unlock()
	var next int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.evictExpired(sh, now, -1)
		if len(sh.exp) > 0 && (next == 0 || sh.exp[0].at < next) {
			next = sh.exp[0].at
		}
		sh.mu.Unlock()
	}
	s.schedule(next)
}

// push, pop and rebuildHeap keep sh.exp a min-heap by time.
func (sh *memShard) push(it expiring) {
	h := append(sh.exp, it)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	sh.exp = h
}

func (sh *memShard) pop() expiring {
	h := sh.exp
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = expiring{}
	h = h[:last]
	sh.down(h, 0)
	if cap(h) >= shrinkFrom && len(h) <= cap(h)/4 {
		h = slices.Clone(h)
	}
	sh.exp = h
	return top
}

func (sh *memShard) down(h []expiring, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r].at < h[l].at {
			c = r
		}
		if h[i].at <= h[c].at {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (sh *memShard) rebuildHeap() {
	h := make([]expiring, 0, len(sh.m))
	for k, e := range sh.m {
		if e.expires != 0 {
			h = append(h, expiring{at: e.expires, key: k})
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		sh.down(h, i)
	}
	sh.exp = h
}

var _ Store = (*MemoryStore)(nil)
