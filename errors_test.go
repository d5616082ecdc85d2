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

// error() with a table reads DreamFactory's forms: status_code or code (the JavaScript
// examples), message or error (the exception's text) or error = {code, message} (DreamFactory's
// own error body). Any other table fails closed, with a message saying what was expected.
func TestRaisedTableForms(t *testing.T) {
	cases := []struct {
		raise  string
		status int
		msg    string
	}{
		{`{status_code = 422, message = "unprocessable"}`, 422, "unprocessable"},
		{`{code = 400, message = "Name field is required"}`, 400, "Name field is required"},
		{`{status_code = 404, error = "Record not found"}`, 404, "Record not found"},
		{`{error = {code = 409, message = "duplicate"}}`, 409, "duplicate"},
		{`{status_code = 401}`, 401, "Unauthorized"},
		{`{message = "no status"}`, 500, "no status"},
		{`{message = 42, code = 403}`, 403, "42"},
		// Unrecognised: 500, a runtime error naming the script.
		{`{}`, 500, "script e.t.get.pre_process: error() was given a table fastlua cannot read (it has neither status_code nor message): expected {status_code = 400..599, message = \"...\"}"},
		{`{reason = "x"}`, 500, "(it has neither status_code nor message)"},
		{`{status_code = 200, message = "fine?"}`, 500, "(status_code is 200, not a whole number from 400 to 599)"},
		{`{code = "404", message = "m"}`, 500, `(code is "404", not a whole number`},
		{`{status_code = 400.5}`, 500, "(status_code is 400.5, not"},
		{`{status_code = true}`, 500, "(status_code is a boolean, not"},
		{`{status_code = 400, message = {text = "x"}}`, 500, "(message is a table)"},
		{`{error = {code = 999}}`, 500, "(error.code is 999, not"},
	}
	for _, c := range cases {
		ts := serve(t, Config{Scripts: []Script{{Name: "e.t.get.pre_process", Source: "error(" + c.raise + ")"}}}, (&echo{}).handle)
		r := ts.do("GET", "/e/t", "")
		if msg := r.errorMessage(t); r.status != c.status || !strings.Contains(msg, c.msg) {
			t.Errorf("error(%s): %d %q, want %d %q", c.raise, r.status, msg, c.status, c.msg)
		}
	}
	hidden := serve(t, Config{HideErrors: true, Scripts: []Script{{Name: "e.t.get.pre_process", Source: "error({})"}}}, (&echo{}).handle)
	if r := hidden.do("GET", "/e/t", ""); r.status != 500 || r.errorMessage(t) != "Internal Server Error" {
		t.Errorf("an unreadable table with HideErrors: %d %s", r.status, r.body)
	}
}
