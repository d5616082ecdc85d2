package fastlua

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

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

// ErrNotNumber is returned by Incr for a key whose value is not a number.
var ErrNotNumber = errors.New("fastlua: the stored value is not a number")

// ErrStoreFull is returned for a new key when a MemoryStore holds its maximum of entries.
var ErrStoreFull = errors.New("fastlua: the store is full")

// ErrValueTooLarge is returned by MemoryStore.Set for a value over MaxStoreValue bytes.
var ErrValueTooLarge = errors.New("fastlua: the value is larger than 1 MiB")

// MaxStoreValue bounds a string or table stored in a MemoryStore.
const MaxStoreValue = 1 << 20

// MemoryStore is the in-process Store: sharded maps, expired entries dropped when read and
// swept a little on every write. Its zero value is not usable; use NewMemoryStore.
type MemoryStore struct {
	seed    maphash.Seed
	shards  [64]memShard
	now     func() time.Time
	writes  atomic.Uint64 // every 16th write sweeps the next shard in turn
	entries atomic.Int64
	max     int64
}

type memShard struct {
	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	value   any
	expires time.Time // zero: never
}

// NewMemoryStore returns an empty in-process store of at most 1,048,576 entries.
func NewMemoryStore() *MemoryStore { return NewMemoryStoreSize(1 << 20) }

// NewMemoryStoreSize returns an empty in-process store of at most maxEntries entries: scripts
// share it across requests, so without a bound one of them could fill the memory. Setting a new
// key in a full store fails with ErrStoreFull (expired entries are dropped first).
func NewMemoryStoreSize(maxEntries int) *MemoryStore {
	s := &MemoryStore{seed: maphash.MakeSeed(), now: time.Now, max: int64(maxEntries)}
	for i := range s.shards {
		s.shards[i].m = map[string]memEntry{}
	}
	return s
}

func (s *MemoryStore) shard(key string) *memShard {
	return &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
}

func (e memEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

func expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) (any, bool, error) {
	sh := s.shard(key)
	now := s.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		return nil, false, nil
	}
	if e.expired(now) {
		delete(sh.m, key)
		s.entries.Add(-1)
		return nil, false, nil
	}
	return e.value, true, nil
}

// admit counts a new entry, or refuses it when the store is full. sh.mu is held.
func (s *MemoryStore) admit(sh *memShard, key string, now time.Time) error {
	if e, ok := sh.m[key]; ok {
		if !e.expired(now) {
			return nil // replacing an entry
		}
		delete(sh.m, key)
		s.entries.Add(-1)
	}
	if s.entries.Add(1) > s.max {
		s.entries.Add(-1)
		return ErrStoreFull
	}
	return nil
}

// Set implements Store.
func (s *MemoryStore) Set(_ context.Context, key string, value any, ttl time.Duration) error {
	switch v := value.(type) {
	case JSON:
		if len(v) > MaxStoreValue {
			return ErrValueTooLarge
		}
		value = JSON(append([]byte(nil), v...))
	case string:
		if len(v) > MaxStoreValue {
			return ErrValueTooLarge
		}
	}
	sh := s.shard(key)
	now := s.now()
	sh.mu.Lock()
	if err := s.admit(sh, key, now); err != nil {
		sh.mu.Unlock()
		s.sweep(now)
		return err
	}
	sh.m[key] = memEntry{value: value, expires: expiry(now, ttl)}
	sh.mu.Unlock()
	s.sweep(now)
	return nil
}

// Incr implements Store.
func (s *MemoryStore) Incr(_ context.Context, key string, by float64, ttl time.Duration) (float64, error) {
	sh := s.shard(key)
	now := s.now()
	sh.mu.Lock()
	e, ok := sh.m[key]
	if !ok || e.expired(now) {
		if err := s.admit(sh, key, now); err != nil {
			sh.mu.Unlock()
			s.sweep(now)
			return 0, err
		}
		sh.m[key] = memEntry{value: by, expires: expiry(now, ttl)}
		sh.mu.Unlock()
		s.sweep(now)
		return by, nil
	}
	defer sh.mu.Unlock()
	n, isNum := e.value.(float64)
	if !isNum {
		return 0, ErrNotNumber
	}
	n += by
	e.value = n
	sh.m[key] = e
	return n, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	sh := s.shard(key)
	sh.mu.Lock()
	if _, ok := sh.m[key]; ok {
		delete(sh.m, key)
		s.entries.Add(-1)
	}
	sh.mu.Unlock()
	return nil
}

// Len returns the number of entries, expired ones not yet dropped included.
func (s *MemoryStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// sweep looks at up to 32 entries of the next shard in turn every 16 writes and drops the
// expired ones, so keys that expire do not stay forever even in shards nobody writes to.
func (s *MemoryStore) sweep(now time.Time) {
	w := s.writes.Add(1)
	if w%16 != 0 {
		return
	}
	sh := &s.shards[(w/16)%uint64(len(s.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	checked := 0
	for k, e := range sh.m {
		if e.expired(now) {
			delete(sh.m, k)
			s.entries.Add(-1)
		}
		if checked++; checked >= 32 {
			return
		}
	}
}

var _ Store = (*MemoryStore)(nil)
