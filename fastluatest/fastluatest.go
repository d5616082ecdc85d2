// Package fastluatest runs script tests: files named *_test.lua beside a directory's scripts,
// written in a subset of busted's API (describe, it, before_each, assert.*) plus a fastlua
// table that sends requests through the directory's scripts. Run runs them under go test, as
// subtests; the fastlua command's test subcommand runs the same files.
//
//	func TestScripts(t *testing.T) { fastluatest.Run(t, "scripts") }
//
// Each test (it) runs on a fresh middleware (fastlua.New with the directory's scripts, Wrap
// around the test's handler, served by a real fasthttp server on 127.0.0.1): nothing a test
// does (the store, the config, the handler, stubs) reaches the next. A request's queued
// scripts have run when fastlua.request returns.
//
// The API, in a test file:
//
//	describe(name, fn)       a group; groups nest, names join with a space
//	it(name, fn)             a test
//	before_each(fn)          runs before each test of its group (and the groups inside it)
//	after_each(fn)           runs after each test of its group, even a failed one
//
//	assert.equals(expected, actual [, message])   ==
//	assert.same(expected, actual [, message])     deep equality of tables
//	assert.is_true(v), assert.is_false(v), assert.is_nil(v), assert.is_not_nil(v)
//	assert.matches(lua_pattern, s)
//	assert.has_error(fn [, message])   fn raises an error (with that message, position
//	                                   stripped; or a table error whose message it is)
//
//	fastlua.request{method =, path =, headers =, query =, body =}
//	    one request through the scripts (pre_process, the handler, post_process, then the
//	    queued scripts); body is a string, or a table sent as JSON. Returns
//	    {status_code, headers, content, content_type}, content decoded when JSON.
//	fastlua.handler(fn)      the handler behind the scripts: fn(req) gets {method, path,
//	                         headers, query, payload, content} and returns {status_code,
//	                         headers, content}. The default answers 200 with req as JSON.
//	fastlua.handler_calls()  the requests the handler received, in that shape
//	fastlua.http(url_prefix, response)
//	                         answers platform.api calls to URLs starting with url_prefix
//	                         with response ({status_code, headers, content}, or a function
//	                         of the request returning one); the host is allowed. Other
//	                         outbound calls get a 502: a test never reaches the network.
//	fastlua.config(t), fastlua.session(t)   platform.config and platform.session
//	fastlua.prefix(p)        Config.Prefix (default "/")
//	fastlua.store            the test's store: get, set(k, v [, ttl]), incr(k [, by, ttl]), delete
//	fastlua.logs()           what scripts logged in the last request: {level, message, script, fields}
//	fastlua.clock(unix_seconds)
//	                         fixes the scripts' clock (os.time, os.date, the time module)
//
// A failing assertion reports the expected and actual values and the line of the test file.
package fastluatest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Result is the outcome of one test.
type Result struct {
	File    string // the test file
	Name    string // the names of its groups and its own, joined with spaces
	Passed  bool
	Message string // why it failed
	Line    int    // the line of the test file it failed at; 0 when unknown
}

// Options configure RunDir.
type Options struct {
	// Prefix is the middleware's Config.Prefix unless a test sets fastlua.prefix. Default "/".
	Prefix string
}

// TestFiles returns the *_test.lua files at the top of dir, in name order.
func TestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && !strings.HasPrefix(n, ".") && strings.HasSuffix(n, "_test.lua") {
			files = append(files, filepath.Join(dir, n))
		}
	}
	slices.Sort(files)
	return files, nil
}

// RunDir runs the tests of dir's *_test.lua files against dir's scripts and calls report for
// each. The error is for a directory that cannot be read; scripts that do not load, and test
// files that do not run, are failed results.
func RunDir(dir string, opt Options, report func(Result)) error {
	files, err := TestFiles(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		runFile(dir, f, opt, func(name string, run func() Result) { report(run()) })
	}
	return nil
}

// Run runs the tests of dir's *_test.lua files as subtests of t: one per file, one per test
// inside it. A directory without test files fails t.
func Run(t *testing.T, dir string) {
	t.Helper()
	files, err := TestFiles(dir)
	if err != nil {
		t.Fatalf("fastluatest: %v", err)
	}
	if len(files) == 0 {
		t.Fatalf("fastluatest: no *_test.lua files in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			runFile(dir, f, Options{}, func(name string, run func() Result) {
				t.Run(name, func(t *testing.T) {
					if r := run(); !r.Passed {
						t.Error(r.Failure())
					}
				})
			})
		})
	}
}

// Failure is the failed result as "why (file:line)".
func (r Result) Failure() string {
	if r.Line > 0 {
		return fmt.Sprintf("%s (%s:%d)", r.Message, r.File, r.Line)
	}
	return fmt.Sprintf("%s (%s)", r.Message, r.File)
}
