package otlphttp

import (
	"context"
	"strings"
	"testing"
)

// New refuses an endpoint that is not an http:// or https:// URL with a host, quoting it, and
// makes a tracer for one that is (nothing is sent until spans end: no collector needed here).
func TestNew(t *testing.T) {
	for _, bad := range []string{"", "localhost:4318", "ftp://collector", "http://", "://x"} {
		if _, _, err := New(bad, "svc"); err == nil || !strings.Contains(err.Error(), "is not an http:// or https:// URL") {
			t.Errorf("New(%q): %v", bad, err)
		}
	}
	tracer, shutdown, err := New("http://127.0.0.1:1", "svc")
	if err != nil || tracer == nil {
		t.Fatalf("New: %v %v", tracer, err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown with no spans: %v", err)
	}
}
