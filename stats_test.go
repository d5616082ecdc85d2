package fastlua

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// A Stats snapshot is the caller's: changing its slices changes nothing in the middleware.
func TestStatsBoundsAreCopies(t *testing.T) {
	ts := serve(t, Config{Scripts: []Script{{Name: "st.ok.get.pre_process", Source: `local x = 1`}}}, (&echo{}).handle)
	for i := 0; i < 2*DurationSampleRate; i++ {
		ts.do("GET", "/st/ok", "")
	}
	first := ts.mw.Stats().Scripts[0].Durations
	want := slices.Clone(first.Bounds)
	wantCounts := slices.Clone(first.Counts)
	for i := range first.Bounds {
		first.Bounds[i] = time.Hour
	}
	for i := range first.Counts {
		first.Counts[i] = 99
	}
	again := ts.mw.Stats().Scripts[0].Durations
	if !slices.Equal(again.Bounds, want) || !slices.Equal(again.Counts, wantCounts) {
		t.Fatalf("a change to a snapshot reached the middleware: bounds %v, counts %v", again.Bounds, again.Counts)
	}
	other := serve(t, Config{Scripts: []Script{{Name: "st.ok.get.pre_process", Source: `local x = 1`}}}, (&echo{}).handle)
	other.do("GET", "/st/ok", "")
	if b := other.mw.Stats().Scripts[0].Durations.Bounds; !slices.Equal(b, want) {
		t.Fatalf("a change to a snapshot reached another middleware: %v", b)
	}
}

// Config.DurationBuckets sets a middleware's own buckets, any number of them (the default set
// had a fixed array behind it), copied at New.
func TestDurationBuckets(t *testing.T) {
	bounds := make([]time.Duration, 20)
	for i := range bounds {
		bounds[i] = time.Duration(i+1) * time.Nanosecond // every run is longer: the last bucket
	}
	ts := serve(t, Config{DurationBuckets: bounds, Scripts: []Script{{Name: "st.ok.get.pre_process", Source: `local x = 1`}}}, (&echo{}).handle)
	bounds[0] = time.Hour // after New: no effect
	for i := 0; i < 2*DurationSampleRate; i++ {
		ts.do("GET", "/st/ok", "")
	}
	h := ts.mw.Stats().Scripts[0].Durations
	if len(h.Bounds) != 20 || h.Bounds[0] != time.Nanosecond || len(h.Counts) != 21 || h.Counts[20] != 2 || h.Count != 2 {
		t.Fatalf("histogram %+v", h)
	}

	d := DefaultDurationBuckets()
	if len(d) != 15 || d[0] != 50*time.Microsecond || d[14] != 2500*time.Millisecond {
		t.Fatalf("the default buckets: %v", d)
	}
	d[0] = time.Hour
	if DefaultDurationBuckets()[0] != 50*time.Microsecond {
		t.Fatal("the default buckets can be changed")
	}
	plain := serve(t, Config{Scripts: []Script{{Name: "st.ok.get.pre_process", Source: `local x = 1`}}}, (&echo{}).handle)
	plain.do("GET", "/st/ok", "")
	if b := plain.mw.Stats().Scripts[0].Durations.Bounds; !slices.Equal(b, DefaultDurationBuckets()) {
		t.Fatalf("without Config.DurationBuckets: %v", b)
	}

	tooMany := make([]time.Duration, maxDurationBuckets+1)
	for i := range tooMany {
		tooMany[i] = time.Duration(i+1) * time.Microsecond
	}
	for _, bad := range [][]time.Duration{
		{time.Millisecond, time.Millisecond},
		{2 * time.Millisecond, time.Millisecond},
		{0, time.Millisecond},
		{-time.Millisecond},
		tooMany,
	} {
		if _, err := New(Config{DurationBuckets: bad}); err == nil || !strings.Contains(err.Error(), "Config.DurationBuckets") {
			t.Errorf("New with buckets %v: %v", bad, err)
		}
	}
}

func TestStats(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: []Script{
		{Name: "st.ok.get.pre_process", Source: `local x = 1`},
		{Name: "st.bad.get.pre_process", Source: `error("no")`},
		{Name: "st.slow.get.pre_process", Source: `while true do end`, TimeLimit: 20e6},
	}}, h.handle)
	for i := 0; i < 32; i++ {
		ts.do("GET", "/st/ok", "")
	}
	ts.do("GET", "/st/bad", "")
	ts.do("GET", "/st/slow", "") // closes its state
	ts.do("GET", "/st/ok", "")   // makes a new one
	st := ts.mw.Stats()
	by := map[string]ScriptStats{}
	for _, s := range st.Scripts {
		by[s.Name] = s
	}
	ok := by["st.ok.get.pre_process"]
	if ok.Runs != 33 || ok.Errors != 0 || ok.Durations.Count != 3 {
		t.Fatalf("ok: %+v", ok)
	}
	var n uint64
	for _, c := range ok.Durations.Counts {
		n += c
	}
	if n != ok.Durations.Count || ok.Durations.Sum <= 0 {
		t.Fatalf("histogram %+v", ok.Durations)
	}
	if b := by["st.bad.get.pre_process"]; b.Runs != 1 || b.Errors != 1 || b.Timeouts != 0 {
		t.Fatalf("bad: %+v", b)
	}
	if s := by["st.slow.get.pre_process"]; s.Errors != 1 || s.Timeouts != 1 {
		t.Fatalf("slow: %+v", s)
	}
	if st.Pool.Max != 64 || st.Pool.Live < 1 || st.Pool.Created < 2 || st.Queue.Capacity != 1024 {
		t.Fatalf("pool %+v queue %+v", st.Pool, st.Queue)
	}
	// Counters survive a replacement.
	if err := ts.mw.Set(Script{Name: "st.ok.get.pre_process", Source: `local y = 2`}); err != nil {
		t.Fatal(err)
	}
	ts.do("GET", "/st/ok", "")
	for _, s := range ts.mw.Stats().Scripts {
		if s.Name == "st.ok.get.pre_process" && s.Runs != 34 {
			t.Fatalf("after a replacement: %d runs", s.Runs)
		}
	}
}
