package fastlua

import (
	"encoding/json"
	"strings"
	"testing"
)

// With Config.DebugToken, a request carrying the token gets the trace of its script runs; one
// without it, or with another token, gets none, and the token never reaches the handler.
func TestDebugTrace(t *testing.T) {
	e := &echo{}
	ts := serve(t, Config{DebugToken: "s3cret", Scripts: []Script{
		{Name: "svc.get.pre_process", Source: `event.response.headers["x-pre"] = "1"`},
		{Name: "svc.get.post_process", Source: `error("broken")`, FailOpen: true},
	}}, e.handle)

	r := ts.do("GET", "/svc", "", "X-Fastlua-Debug", "s3cret")
	var runs []map[string]any
	if err := json.Unmarshal([]byte(r.headers["x-fastlua-trace"]), &runs); err != nil {
		t.Fatalf("trace header %q: %v", r.headers["x-fastlua-trace"], err)
	}
	if len(runs) != 2 || runs[0]["script"] != "svc.get.pre_process" || runs[0]["phase"] != "pre_process" || runs[0]["outcome"] != "ok" ||
		runs[1]["script"] != "svc.get.post_process" || runs[1]["outcome"] != "runtime" {
		t.Errorf("trace = %v", runs)
	}
	if _, ok := runs[0]["us"].(float64); !ok {
		t.Errorf("no duration in %v", runs[0])
	}
	if _, ok := e.lastSeen().Headers["x-fastlua-debug"]; ok {
		t.Error("the handler received the debug token")
	}
	if !strings.Contains(ts.logs.String(), "fastlua: script ran") {
		t.Error("the runs were not logged at debug level")
	}

	for _, tok := range []string{"", "s3cre", "s3cret2", "S3CRET"} {
		if r := ts.do("GET", "/svc", "", "X-Fastlua-Debug", tok); r.headers["x-fastlua-trace"] != "" {
			t.Errorf("token %q: got a trace", tok)
		}
	}
}

// Without a DebugToken the header is ignored, and passed on as any other.
func TestDebugTraceOff(t *testing.T) {
	e := &echo{}
	ts := serve(t, Config{Scripts: []Script{{Name: "svc.get.pre_process", Source: `local x = 1`}}}, e.handle)
	if r := ts.do("GET", "/svc", "", "X-Fastlua-Debug", ""); r.headers["x-fastlua-trace"] != "" {
		t.Error("a trace without a DebugToken")
	}
}
