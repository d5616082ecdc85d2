// Command fastlua checks, runs and tests fastlua event scripts without a server.
//
//	fastlua check [-json] DIR...
//	fastlua run DIR [-X METHOD] [-H 'Name: value']... [-d BODY | -d @file] [-prefix P] [-upstream URL] PATH
//	fastlua test [-prefix P] DIR...
//
// check loads every script of each directory as the middleware would and reports every problem
// at once, one per line, as FILE:LINE:COL: message (compile errors, bad directives, file names
// that are not event patterns, duplicates, files that look like scripts but are skipped); it
// exits 1 when there is any. run sends one request through the scripts to a built-in handler
// that answers with JSON describing what it received (or to -upstream) and shows what each
// script did. test runs the *_test.lua files beside the scripts (see package fastluatest).
// Each subcommand takes -h.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `fastlua checks, runs and tests fastlua event scripts without a server.

Usage:

	fastlua check [-json] DIR...     report every problem of the scripts in DIR
	fastlua run DIR [flags] PATH     run one request through the scripts and show what they did
	fastlua test [-prefix P] DIR...  run the *_test.lua files in DIR

Run "fastlua COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var code int
	var err error
	switch args[0] {
	case "check":
		code, err = cmdCheck(args[1:], stdout, stderr)
	case "run":
		code, err = cmdRun(args[1:], stdout, stderr)
	case "test":
		code, err = cmdTest(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "fastlua: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		// The library's errors start with "fastlua: " already.
		fmt.Fprintln(stderr, "fastlua: "+strings.TrimPrefix(err.Error(), "fastlua: "))
		return 1
	}
	return code
}

// errUsage is returned after a usage message was printed.
var errUsage = errors.New("usage")

// newFlags makes a subcommand's flag set; its usage goes to stdout for -h, to stderr otherwise.
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: fastlua %s\n\n%s\n", synopsis, about)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args with fs, allowing flags after the positional arguments; a -h prints the
// usage to stdout.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
