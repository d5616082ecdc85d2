package fastlua

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// otherStore is a Store that is not a *MemoryStore, as a Redis store is not: it counts the
// calls that reach it.
type otherStore struct {
	Store
	calls atomic.Int64
}

func (s *otherStore) Get(ctx context.Context, key string) (any, bool, error) {
	s.calls.Add(1)
	return s.Store.Get(ctx, key)
}

func (s *otherStore) Set(ctx context.Context, key string, value any, ttl time.Duration) error {
	s.calls.Add(1)
	return s.Store.Set(ctx, key, value, ttl)
}

func (s *otherStore) Incr(ctx context.Context, key string, by float64, ttl time.Duration) (float64, error) {
	s.calls.Add(1)
	return s.Store.Incr(ctx, key, by, ttl)
}

func (s *otherStore) Delete(ctx context.Context, key string) error {
	s.calls.Add(1)
	return s.Store.Delete(ctx, key)
}

// fakeClock is a MemoryStore's clock, set by a test; the store's sweep timer reads it too.
type fakeClock struct{ ns atomic.Int64 }

// setClock gives s a fake clock at start; call it before s is used.
func setClock(s *MemoryStore, start time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(start.UnixNano())
	s.now = func() time.Time { return time.Unix(0, c.ns.Load()) }
	return c
}

func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// A MemoryStore bounds keys and values for Go callers too, for Set and Incr alike.
func TestMemoryStoreKeyAndValueBounds(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	big := strings.Repeat("k", 32<<20)
	if err := s.Set(ctx, big, "v", 0); !errors.Is(err, ErrKeyTooLong) || !strings.Contains(err.Error(), "MemoryStoreConfig.MaxKeySize") {
		t.Fatalf("Set with a 32 MiB key: %v", err)
	}
	if _, err := s.Incr(ctx, big, 1, 0); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("Incr with a 32 MiB key: %v", err)
	}
	if err := s.Set(ctx, "k", strings.Repeat("v", 1<<20+1), 0); !errors.Is(err, ErrValueTooLarge) ||
		!strings.Contains(err.Error(), "larger than 1 MiB (MemoryStoreConfig.MaxValueSize)") {
		t.Fatalf("Set with a large value: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("%d entries after refusals", s.Len())
	}
}

// A full store drops its expired entries, wherever they are, before it refuses a new key.
func TestMemoryStoreFullEvictsExpiredFirst(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStoreSize(1000)
	clock := setClock(s, time.Unix(1000, 0))
	for i := 0; i < 500; i++ {
		if err := s.Set(ctx, fmt.Sprint("short", i), "v", time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 500; i++ {
		if err := s.Set(ctx, fmt.Sprint("long", i), "v", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, "new", "v", 0); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("a full store: %v", err)
	}
	clock.add(2 * time.Second) // the short ones expired
	for i := 0; i < 500; i++ {
		if err := s.Set(ctx, fmt.Sprint("new", i), "v", 0); err != nil {
			t.Fatalf("new key %d after 500 expired: %v", i, err)
		}
	}
	if _, err := s.Incr(ctx, "one-more", 1, 0); !errors.Is(err, ErrStoreFull) ||
		!strings.Contains(err.Error(), "1000 entries") {
		t.Fatalf("full again: %v", err)
	}
	for i := 0; i < 500; i++ {
		if v, ok, _ := s.Get(ctx, fmt.Sprint("long", i)); !ok || v != "v" {
			t.Fatalf("long%d was evicted", i)
		}
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Memory comes back: after many large keys are deleted or expire (nobody reading them), and
// after many small ones are deleted (Go maps do not shrink by themselves), the heap returns
// near where it started.
func TestMemoryStoreGivesMemoryBack(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a few hundred MB")
	}
	ctx := context.Background()
	check := func(what string, base, peak uint64, s *MemoryStore) {
		t.Helper()
		after := heapInUse()
		grown := int64(peak) - int64(base)
		left := int64(after) - int64(base)
		t.Logf("%s: heap %d MB at the start, %d MB full, %d MB after", what, base>>20, peak>>20, after>>20)
		if grown < 24<<20 {
			t.Fatalf("%s: the store grew the heap by only %d MB", what, grown>>20)
		}
		if left > grown/10 {
			t.Fatalf("%s: %d of %d MB are still held", what, left>>20, grown>>20)
		}
		runtime.KeepAlive(s)
	}

	// Large keys and values: half deleted, half left to expire.
	s := NewMemoryStore()
	base := heapInUse()
	const large = 40000
	pad := strings.Repeat("k", 1000)
	for i := 0; i < large; i++ {
		key := fmt.Sprintf("%s%06d", pad, i)
		ttl := time.Duration(0)
		if i%2 == 1 {
			ttl = time.Second // long enough to be counted in the peak on a slow machine
		}
		if err := s.Set(ctx, key, strings.Repeat("v", 1000)+key[:10], ttl); err != nil {
			t.Fatal(err)
		}
	}
	peak := heapInUse()
	for i := 0; i < large; i += 2 {
		_ = s.Delete(ctx, fmt.Sprintf("%s%06d", pad, i))
	}
	waitFor(t, "the expired entries to go", func() bool { return s.Len() == 0 })
	check("large entries", base, peak, s)

	// Many small keys, all deleted.
	s = NewMemoryStore()
	base = heapInUse()
	const small = 800000
	for i := 0; i < small; i++ {
		if err := s.Set(ctx, fmt.Sprint("s", i), 1.0, 0); err != nil {
			t.Fatal(err)
		}
	}
	peak = heapInUse()
	for i := 0; i < small; i++ {
		_ = s.Delete(ctx, fmt.Sprint("s", i))
	}
	check("small entries", base, peak, s)
}

// The rate-limit pattern (incr of a few keys with a ttl) and a churn of keys with a ttl.
func BenchmarkMemoryStore(b *testing.B) {
	ctx := context.Background()
	keys := make([]string, 100000)
	for i := range keys {
		keys[i] = fmt.Sprint("rate:", i)
	}
	b.Run("incr", func(b *testing.B) {
		s := NewMemoryStore()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_, _ = s.Incr(ctx, keys[i%1000], 1, time.Minute)
				i++
			}
		})
	})
	b.Run("set-ttl", func(b *testing.B) {
		s := NewMemoryStore()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = s.Set(ctx, keys[i%len(keys)], "v", time.Millisecond)
		}
	})
}

func TestMemoryStore(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	clock := setClock(s, time.Unix(1000, 0))
	if n, _ := s.Incr(ctx, "w", 1, time.Minute); n != 1 {
		t.Fatal(n)
	}
	clock.add(30 * time.Second)
	if n, _ := s.Incr(ctx, "w", 2, time.Minute); n != 3 {
		t.Fatalf("within the window: %v", n)
	}
	clock.add(31 * time.Second) // the window set by the first incr has passed
	if n, _ := s.Incr(ctx, "w", 1, time.Minute); n != 1 {
		t.Fatalf("a new window: %v", n)
	}
	_ = s.Set(ctx, "s", "x", 0)
	if _, err := s.Incr(ctx, "s", 1, 0); !errors.Is(err, ErrNotNumber) {
		t.Fatalf("incr of a string: %v", err)
	}
	// Many expiring keys are swept as writes go on.
	for i := 0; i < 5000; i++ {
		_ = s.Set(ctx, fmt.Sprint("tmp", i), "v", time.Second)
	}
	clock.add(time.Hour)
	for i := 0; i < 20000; i++ {
		_ = s.Set(ctx, "keep", "v", 0)
		_, _ = s.Incr(ctx, fmt.Sprint("n", i%10), 1, 0)
	}
	if n := s.Len(); n > 1000 {
		t.Fatalf("%d entries left: expired ones are not swept", n)
	}

	// incr is atomic per key.
	var wg sync.WaitGroup
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_, _ = s.Incr(ctx, "atomic", 1, 0)
			}
		}()
	}
	wg.Wait()
	if v, _, _ := s.Get(ctx, "atomic"); v != 10000.0 {
		t.Fatalf("50x200 concurrent incr = %v", v)
	}
}

func TestMemoryStoreBounds(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStoreSize(100)
	clock := setClock(s, time.Unix(1000, 0))
	for i := 0; i < 100; i++ {
		if err := s.Set(ctx, fmt.Sprint("k", i), "v", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, "one-more", "v", 0); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("a full store: %v", err)
	}
	if _, err := s.Incr(ctx, "one-more", 1, 0); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("incr in a full store: %v", err)
	}
	if err := s.Set(ctx, "k1", "replaced", 0); err != nil {
		t.Fatalf("replacing a key in a full store: %v", err)
	}
	_ = s.Delete(ctx, "k2")
	if err := s.Set(ctx, "after-delete", "v", 0); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	clock.add(2 * time.Minute) // the rest expire
	if err := s.Set(ctx, "k5", "v", 0); err != nil {
		t.Fatalf("over an expired key: %v", err)
	}
	for i := 0; i < 2000; i++ { // writes sweep the expired entries
		_ = s.Set(ctx, "hot", "v", 0)
	}
	if err := s.Set(ctx, "fresh", "v", 0); err != nil {
		t.Fatalf("after the sweep: %v", err)
	}
	if err := s.Set(ctx, "big", strings.Repeat("x", 1<<20+1), 0); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("a large value: %v", err)
	}
}
