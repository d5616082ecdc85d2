package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fastlua/fastlua"
)

// problem is one thing check found.
type problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
	Kind    string `json:"kind"` // compile, directive, name, file, duplicate, skipped
}

func cmdCheck(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("check", "check [-json] DIR...",
		`Check loads every script in each DIR as the middleware would and reports every problem
at once, one per line, as FILE:LINE:COL: message: compile errors, bad directives, file names
that are not event patterns, scripts defined twice, and files that look like scripts but are
skipped (a .LUA extension, none, a subdirectory of scripts). It exits 0 when there is none,
1 otherwise.`, stderr)
	asJSON := fs.Bool("json", false, "print the problems as a JSON array of {file, line, column, message, kind}")
	dirs, err := parse(fs, args, stdout)
	if err != nil {
		return 0, err
	}
	if len(dirs) == 0 {
		fs.Usage()
		return 0, errUsage
	}
	var all []problem
	scripts := 0
	for _, dir := range dirs {
		n, ps := checkDir(dir)
		scripts += n
		all = append(all, ps...)
	}
	if *asJSON {
		if all == nil {
			all = []problem{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return 0, err
		}
	} else {
		for _, p := range all {
			fmt.Fprintf(stdout, "%s:%d:%d: %s\n", p.File, max(p.Line, 1), max(p.Column, 1), p.Message)
		}
		if len(all) == 0 {
			fmt.Fprintf(stderr, "%d scripts, no problems\n", scripts)
		}
	}
	if len(all) > 0 {
		return 1, nil
	}
	return 0, nil
}

// checkDir loads dir's scripts and returns how many load, and the problems.
func checkDir(dir string) (int, []problem) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		msg := "not a directory"
		if err != nil {
			msg = err.Error()
			var pe *os.PathError
			if errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
		}
		return 0, []problem{{File: dir, Message: msg, Kind: "file"}}
	}
	fsys := os.DirFS(dir)
	var ps []problem
	skipped, err := fastlua.SkippedFiles(fsys, ".")
	if err != nil {
		return 0, []problem{{File: dir, Message: err.Error(), Kind: "file"}}
	}
	scripts, err := fastlua.LoadScripts(fsys, ".")
	for _, e := range flatten(err) {
		ps = append(ps, problemOf(e, dir))
	}
	for i := range scripts {
		scripts[i].File = filepath.Join(dir, scripts[i].File)
	}
	n := len(scripts)
	if len(scripts) > 0 {
		m, err := fastlua.New(fastlua.Config{Scripts: scripts, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			_ = m.Close(context.Background())
		}
		for _, e := range flatten(err) {
			ps = append(ps, problemOf(e, ""))
			n--
		}
	}
	slices.SortStableFunc(ps, func(a, b problem) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	for _, sk := range skipped {
		ps = append(ps, problem{File: filepath.Join(dir, sk.Name), Message: "skipped: " + sk.Reason, Kind: "skipped"})
	}
	return n, ps
}

// flatten returns the errors a joined error or a *fastlua.ScriptsError holds.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if many, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range many.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// problemOf describes one loading error; dir is joined to file names relative to it.
func problemOf(err error, dir string) problem {
	join := func(f string) string {
		if dir == "" || f == "" {
			return f
		}
		return filepath.Join(dir, f)
	}
	var ce *fastlua.CompileError
	var fe *fastlua.FileError
	var pe *fastlua.PatternError
	switch {
	case errors.As(err, &ce):
		kind := "compile"
		switch {
		case errors.As(err, &pe):
			kind = "name"
		case strings.Contains(ce.Message, "given twice") || strings.Contains(ce.Message, "defined by"):
			kind = "duplicate"
		case strings.HasPrefix(ce.Message, "time_limit") || strings.Contains(ce.Message, "directive") ||
			strings.Contains(ce.Message, "setting") || strings.Contains(ce.Message, "must be true or false"):
			kind = "directive"
		}
		file := ce.File
		if file == "" {
			file = ce.Script
		}
		return problem{File: join(file), Line: ce.Line, Column: ce.Column, Message: ce.Message, Kind: kind}
	case errors.As(err, &fe):
		return problem{File: join(fe.File), Message: fe.Reason, Kind: "file"}
	default:
		return problem{File: dir, Message: strings.TrimPrefix(err.Error(), "fastlua: "), Kind: "file"}
	}
}
