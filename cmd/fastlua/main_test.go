package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// check reports every problem of a directory, one per line as FILE:LINE:COL: message, and
// exits 1; a clean directory exits 0.
func TestCheck(t *testing.T) {
	code, out, _ := runCmd(t, "check", "testdata/bad")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"testdata/bad/db.get.pre_process.lua:2:7: syntax error near 'then'",
		`testdata/bad/db.post.pre_process.lua:1:1: is_active must be true or false, not "maybe"`,
		"testdata/bad/not-a-pattern.lua:1:1: the file name is not an event pattern",
		`testdata/bad/db.get.post_process.LUA:1:1: skipped: the extension is ".LUA"`,
		"testdata/bad/db.put.pre_process:1:1: skipped: it has no .lua extension",
		`testdata/bad/sub:1:1: skipped: a directory of scripts (1)`,
	} {
		if !strings.Contains(out, want+"") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 6 {
		t.Errorf("%d lines, want 6:\n%s", n, out)
	}

	code, out, _ = runCmd(t, "check", "-json", "testdata/bad")
	var ps []problem
	if err := json.Unmarshal([]byte(out), &ps); err != nil || code != 1 || len(ps) != 6 {
		t.Errorf("-json: exit %d, %d problems, %v:\n%s", code, len(ps), err, out)
	}
	if code, out, _ := runCmd(t, "check", "testdata/good"); code != 0 || out != "" {
		t.Errorf("a clean directory: exit %d, %q", code, out)
	}
	if code, _, _ := runCmd(t, "check", "testdata/nowhere"); code != 1 {
		t.Errorf("a missing directory: exit %d", code)
	}
}

// -h on every subcommand prints its usage and exits 0.
func TestHelp(t *testing.T) {
	for _, cmd := range []string{"check", "run", "test"} {
		code, out, _ := runCmd(t, cmd, "-h")
		if code != 0 || !strings.Contains(out, "usage: fastlua "+cmd) {
			t.Errorf("%s -h: exit %d, %q", cmd, code, out)
		}
	}
	if code, _, _ := runCmd(t, "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	if code, _, _ := runCmd(t, "frobnicate"); code != 2 {
		t.Errorf("an unknown command: exit %d", code)
	}
}

// run shows each script's outcome and logs, what the handler received, and the response.
func TestRun(t *testing.T) {
	code, out, errOut := runCmd(t, "run", "testdata/good", "-d", `{"name":"Ada"}`, "-H", "X-A: b", "/db/_table/customer")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"1. pre_process   db._table.customer.post.pre_process: ok",
		"info validated name=Ada",
		"2. post_process  db._table.customer.post.post_process: ok",
		"3. queued        db._table.customer.post.queued: ok",
		"info queued ran status=200",
		"X-A: b",
		`{"checked":true,"name":"Ada"}`,
		"HTTP/1.1 200 OK",
		"X-Post: done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(strings.ToLower(out), "x-fastlua") {
		t.Errorf("the debug header shows:\n%s", out)
	}
}

// run -upstream sends the request on to a server on the loopback interface.
func TestRunUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(201)
		ctx.SetBodyString("upstream got " + string(ctx.PostBody()))
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()
	code, out, errOut := runCmd(t, "run", "testdata/good", "-upstream", "http://"+ln.Addr().String(), "-d", `{"name":"Bo"}`, "/db/_table/customer")
	if code != 0 || !strings.Contains(out, "HTTP/1.1 201 Created") || !strings.Contains(out, `upstream got {"checked":true,"name":"Bo"}`) {
		t.Errorf("exit %d %s:\n%s", code, errOut, out)
	}
	code, out, _ = runCmd(t, "run", "testdata/good", "-upstream", "http://"+ln.Addr().String(), "-d", `{}`, "/db/_table/customer")
	if code != 0 || !strings.Contains(out, "HTTP/1.1 400") || !strings.Contains(out, "nothing: a script answered") {
		t.Errorf("a refused request: exit %d:\n%s", code, out)
	}
}

// test prints PASS and FAIL lines and the counts, and exits 1 when a test failed.
func TestTest(t *testing.T) {
	code, out, _ := runCmd(t, "test", "testdata/good")
	if code != 0 || !strings.HasSuffix(out, "2 passed, 0 failed\n") || !strings.Contains(out, "PASS validation passes a named one\n") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	dir := t.TempDir()
	for _, f := range []string{"db._table.customer.post.pre_process.lua", "validation_test.lua"} {
		b, err := os.ReadFile(filepath.Join("testdata/good", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "more_test.lua"), []byte("it('fails', function()\n  assert.equals(\"a\", \"b\")\nend)\n"), 0o644)
	code, out, _ = runCmd(t, "test", dir)
	if code != 1 || !strings.Contains(out, `FAIL fails: expected "a", got "b" (`+filepath.Join(dir, "more_test.lua")+":2)") ||
		!strings.HasSuffix(out, "2 passed, 1 failed\n") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
