package fastlua

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestLogFieldsFromEventValues: log's fields may be a decoded body's object (decoded lazily: its
// members are read from the text on demand, so Go walking the bare table saw none) or an event's
// headers, and the record carries their members.
func TestLogFieldsFromEventValues(t *testing.T) {
	var logs syncBuffer
	cfg := Config{Scripts: scriptsFrom(t, "logfields"), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ts := serve(t, cfg, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"user":"ada","n":2,"nested":{"k":"v"}}`)
	})
	if r := ts.do("GET", "/lf", "", "X-Team", "blue"); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var body, headers string
	for _, line := range strings.Split(logs.String(), "\n") {
		switch {
		case strings.Contains(line, "msg=body"):
			body = line
		case strings.Contains(line, "msg=headers"):
			headers = line
		}
	}
	for _, want := range []string{"user=ada", "n=2", `nested="{\"k\":\"v\"}"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the body's record lacks %s: %s", want, body)
		}
	}
	if !strings.Contains(headers, "x-team=blue") {
		t.Errorf("the headers' record lacks x-team=blue: %s", headers)
	}
}
