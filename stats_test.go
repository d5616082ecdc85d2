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
