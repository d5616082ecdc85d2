package main

import (
	"fmt"
	"io"

	"github.com/fastlua/fastlua/fastluatest"
)

func cmdTest(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("test", "test [-prefix P] DIR...",
		`Test runs the script tests of each DIR: its *_test.lua files, against its scripts (see
the README's "Testing your scripts"). It prints PASS name or FAIL name: why (file:line) for
each test, then "N passed, N failed", and exits 1 when a test failed or DIR has no tests.`, stderr)
	prefix := fs.String("prefix", "/", "the middleware's Config.Prefix, unless a test sets fastlua.prefix")
	dirs, err := parse(fs, args, stdout)
	if err != nil {
		return 0, err
	}
	if len(dirs) == 0 {
		fs.Usage()
		return 0, errUsage
	}
	passed, failed := 0, 0
	for _, dir := range dirs {
		files, err := fastluatest.TestFiles(dir)
		if err != nil {
			return 0, err
		}
		if len(files) == 0 {
			fmt.Fprintf(stdout, "FAIL %s: no *_test.lua files\n", dir)
			failed++
			continue
		}
		err = fastluatest.RunDir(dir, fastluatest.Options{Prefix: *prefix}, func(r fastluatest.Result) {
			if r.Passed {
				passed++
				fmt.Fprintf(stdout, "PASS %s\n", r.Name)
			} else {
				failed++
				fmt.Fprintf(stdout, "FAIL %s: %s\n", r.Name, r.Failure())
			}
		})
		if err != nil {
			return 0, err
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1, nil
	}
	return 0, nil
}
