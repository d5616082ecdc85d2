package fastlua

import (
	"strings"
	"testing"
)

// A script's error message is bounded, in the response and in the log, however long the
// script made it (red-team finding: error(event.request.content) wrote the client's body into
// every log line).
func TestErrorMessageBounded(t *testing.T) {
	ts := serve(t, Config{Scripts: []Script{
		{Name: "e.text.post.pre_process", Source: `error("bad: " .. event.request.content)`},
		{Name: "e.raised.post.pre_process", Source: `error({status_code = 400, message = event.request.content})`},
	}}, (&echo{}).handle)
	body := strings.Repeat("x", 1<<20)
	for _, path := range []string{"/e/text", "/e/raised"} {
		before := len(ts.logs.String())
		r := ts.do("POST", path, body)
		if r.status < 400 || !strings.Contains(r.body, "bytes cut]") || len(r.body) > 2*maxErrorMessage {
			t.Errorf("%s: %d, a body of %d bytes: %.200s", path, r.status, len(r.body), r.body)
		}
		if logged := len(ts.logs.String()) - before; logged > 4*maxErrorMessage {
			t.Errorf("%s: %d bytes logged for one error", path, logged)
		}
	}
}
