package fastluatest

import (
	"strings"
	"testing"
)

// The test API, used as a test file uses it: every assertion in testdata/pass passes.
func TestPass(t *testing.T) { Run(t, "testdata/pass") }

// Failing tests report why and the line of the test file.
func TestFailures(t *testing.T) {
	var got []Result
	if err := RunDir("testdata/fail", Options{}, func(r Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		line int
		msg  string
	}{
		{"failing equals", 3, "expected 1, got 2"},
		{"failing same", 6, `at .a.b: expected 1, got 2`},
		{"failing is_true", 9, "the flag: expected true, got nil"},
		{"failing matches", 12, `expected a string matching "^x", got "abc"`},
		{"failing has_error", 15, "expected an error, got none"},
		{"failing has_error message", 18, `expected the error "two", got "one"`},
		{"failing runtime error", 22, "attempt to index a non-table object(nil) with key 'x'"},
		{"failing a misspelled field", 26, `expected 200, got 500`},
		{"failing a failing handler", 29, "handler broke"},
	}
	if len(got) != len(want)+1 {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want)+1, got)
	}
	for i, w := range want {
		r := got[i]
		if r.Name != w.name || r.Passed || r.Line != w.line || !strings.Contains(r.Message, w.msg) {
			t.Errorf("result %d = %+v\nwant name %q, line %d, message containing %q", i, r, w.name, w.line, w.msg)
		}
	}
	if last := got[len(got)-1]; !last.Passed || last.Name != "failing passes" {
		t.Errorf("last result = %+v, want a pass", last)
	}
}

// A test file that does not compile is one failure naming its line; scripts that do not load
// fail the directory's tests.
func TestBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x_test.lua", "describe('a', function()\n  it('b', function() end\nend)\n")
	write(t, dir, "svc.get.pre_process.lua", "return 1\n")
	var got []Result
	if err := RunDir(dir, Options{}, func(r Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Passed || got[0].Line != 3 {
		t.Errorf("a test file with a syntax error: got %+v", got)
	}
	write(t, dir, "x_test.lua", "it('b', function() end)\n")
	write(t, dir, "svc.get.pre_process.lua", "if then\n")
	got = nil
	if err := RunDir(dir, Options{}, func(r Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Passed || !strings.Contains(got[0].Message, "svc.get.pre_process.lua") {
		t.Errorf("a script that does not compile: got %+v", got)
	}
}
