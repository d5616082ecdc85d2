package fastlua

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"
)

// Metrics.
//
// Every run of a script counts in runs, and in errors and timeouts when it fails. Run times go
// into a histogram for one run in DurationSampleRate: reading the clock twice costs more than a
// trivial script (~70 ns here), so timing every run would be the largest cost of the
// middleware. The histogram's buckets are the middleware's own: Config.DurationBuckets (or
// DefaultDurationBuckets), copied and checked by New, so nothing can change them afterwards. A
// script keeps its counters when it is replaced.

// DurationSampleRate is how many runs of a script one timed run stands for.
const DurationSampleRate = 16

// maxDurationBuckets bounds the number of Config.DurationBuckets.
const maxDurationBuckets = 64

// defaultDurationBuckets are the upper bounds of the run-time histogram's buckets when
// Config.DurationBuckets is not set.
var defaultDurationBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
}

// DefaultDurationBuckets returns the default upper bounds of the run-time histogram's buckets
// (Config.DurationBuckets), from 50 µs to 2.5 s; a last, unbounded bucket holds the rest. The
// slice is new on every call: changing it changes nothing else.
func DefaultDurationBuckets() []time.Duration { return slices.Clone(defaultDurationBuckets[:]) }

// durationBuckets checks Config.DurationBuckets, already copied by withDefaults.
func durationBuckets(b []time.Duration) error {
	if len(b) > maxDurationBuckets {
		return fmt.Errorf("fastlua: Config.DurationBuckets has %d bounds, more than %d", len(b), maxDurationBuckets)
	}
	for i, d := range b {
		if d <= 0 || i > 0 && d <= b[i-1] {
			return fmt.Errorf("fastlua: Config.DurationBuckets must be positive and increasing: %v", b)
		}
	}
	return nil
}

// shards is the number of shards of the per-core structures (the pool's hot slots,
// shardedCounter): twice GOMAXPROCS, rounded up to a power of two, so that the exchanges of two
// cores rarely share one (see exchange.shard).
func shards() int {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < 256 {
		n <<= 1
	}
	return n
}

// shardedCounter is a counter that every core writes: one cache line per shard, so that cores
// do not pass one line back and forth, summed when read. A writer uses its exchange's shard,
// the same for its +1 and its -1.
type shardedCounter struct {
	shards []paddedInt64
	mask   uint32
}

// paddedInt64 is alone on its cache line (and the next: adjacent-line prefetch).
type paddedInt64 struct {
	n atomic.Int64
	_ [128 - 8]byte
}

func newShardedCounter() shardedCounter {
	n := shards()
	return shardedCounter{shards: make([]paddedInt64, n), mask: uint32(n - 1)}
}

func (c *shardedCounter) add(shard uint32, d int64) { c.shards[shard&c.mask].n.Add(d) }

// load sums the shards. Each shard's value is exact; the sum is a snapshot of values read one
// after the other (Close reads it after closing: once it is 0, no request is left).
func (c *shardedCounter) load() int64 {
	var n int64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}

// scriptStats are one script name's counters.
type scriptStats struct {
	runs, errors, timeouts atomic.Uint64
	bounds                 []time.Duration // the middleware's buckets: never changed
	buckets                []atomic.Uint64 // len(bounds)+1
	sumNanos, timed        atomic.Uint64
}

// newScriptStats returns the counters of a script name new to m.
func (m *Middleware) newScriptStats() *scriptStats {
	b := m.cfg.DurationBuckets
	return &scriptStats{bounds: b, buckets: make([]atomic.Uint64, len(b)+1)}
}

// observe records a timed run.
func (s *scriptStats) observe(d time.Duration) {
	i := 0
	for i < len(s.bounds) && d > s.bounds[i] {
		i++
	}
	s.buckets[i].Add(1)
	s.sumNanos.Add(uint64(d))
	s.timed.Add(1)
}

// Stats is a snapshot of the middleware's counters.
type Stats struct {
	Scripts []ScriptStats
	Queue   QueueStats
	Pool    PoolStats
	Metrics []ScriptMetric // what scripts counted with the metrics module, by name then labels
}

// ScriptStats are one installed script's counters.
type ScriptStats struct {
	Name     string
	Runs     uint64 // runs, including failed ones
	Errors   uint64 // failed runs, timeouts included
	Timeouts uint64
	// Durations is the run-time histogram of one run in DurationSampleRate.
	Durations Histogram
}

// Histogram counts observations in buckets with upper bounds Config.DurationBuckets; Counts has
// one more entry than Bounds, for the rest. Counts are not cumulative. A Histogram from Stats is
// the caller's own copy.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// QueueStats describe the queue of queued events.
type QueueStats struct {
	Depth, Capacity int    // waiting now; the bound
	Accepted        uint64 // queued
	Done            uint64 // run (their scripts may have failed)
	Dropped         uint64 // not accepted: the queue was full or closed
	Failed          uint64 // accepted, but a script failed closed, or Close gave up on them
	// With a QueueBackend:
	Published    uint64 // handed to the backend
	Fallbacks    uint64 // refused by the backend, then run here or dropped (Config.QueueFallback)
	Delivered    uint64 // delivered by the backend to this process's consumers, and run here
	Retried      uint64 // delivered here, but no queued script matched: released for another consumer
	DeadLettered uint64 // given up here (Config.QueueMaxAttempts, or unreadable): moved to the dead-letter place
}

// PoolStats describe the Lua states.
type PoolStats struct {
	Live, Idle, Max int    // states that exist; of them idle; the bound
	Waiting         int    // requests waiting for a state
	Created         uint64 // states made since New (a state that hit a limit is replaced)
}

// Stats returns a snapshot of the counters.
func (m *Middleware) Stats() Stats {
	var st Stats
	for _, s := range m.routes.Load().sortedScripts() {
		ss := ScriptStats{Name: s.Name, Runs: s.stats.runs.Load(), Errors: s.stats.errors.Load(), Timeouts: s.stats.timeouts.Load()}
		h := &ss.Durations
		h.Bounds = slices.Clone(s.stats.bounds)
		h.Counts = make([]uint64, len(s.stats.buckets))
		for i := range h.Counts {
			h.Counts[i] = s.stats.buckets[i].Load()
		}
		h.Count = s.stats.timed.Load()
		h.Sum = time.Duration(s.stats.sumNanos.Load())
		st.Scripts = append(st.Scripts, ss)
	}
	st.Metrics = m.metrics.snapshot()
	q := m.queue
	st.Queue = QueueStats{Depth: len(q.ch), Capacity: cap(q.ch), Accepted: q.accepted.Load(), Done: q.done.Load(),
		Dropped: q.dropped.Load(), Failed: q.failed.Load(), Published: q.published.Load(), Fallbacks: q.fallbacks.Load(),
		Delivered: q.delivered.Load(), Retried: q.retried.Load(), DeadLettered: q.deadLettered.Load()}
	p := &m.pool
	p.mu.Lock()
	idle := len(p.idle)
	for i := range p.hot {
		if p.hot[i].st.Load() != nil {
			idle++
		}
	}
	st.Pool = PoolStats{Live: p.live, Idle: idle, Max: p.max, Waiting: len(p.waiters), Created: m.stats.statesCreated.Load()}
	p.mu.Unlock()
	return st
}
