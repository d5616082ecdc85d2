package fastlua

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Script files.
//
// A script file is named after its pattern: db._table.{table_name}.get.pre_process.lua. Its
// settings are directives in the comment lines at its top (before the first line that is
// neither blank nor a comment):
//
//	-- fastlua: is_active = false
//	-- fastlua: allow_event_modification = false
//	-- fastlua: fail_open = true
//	-- fastlua: time_limit = 250ms
//
// is_active and allow_event_modification are DreamFactory's names (true by default); fail_open
// is false by default; time_limit is a Go duration, or "none" (refused at load unless
// Config.MaxTimeLimit is negative; a duration longer than it is refused too). A directive with an unknown key
// or a bad value is an error naming the file and line. Only the files at the top of a
// directory are read, through symlinks; names starting with "." are ignored (editors' and the
// admin API's temporary files, a Kubernetes volume's ..data). A name that is not a readable,
// non-empty file is an error, never an absent script (see watch.go for what a reload does
// with it).

const directivePrefix = "-- fastlua:"

// ParseScriptFile makes a Script from a file's name and content.
func ParseScriptFile(name string, src []byte) (Script, error) {
	base := path.Base(filepath.ToSlash(name))
	pattern, ok := strings.CutSuffix(base, ".lua")
	if !ok {
		return Script{}, &CompileError{Script: base, File: name, Message: "a script file's name is <pattern>.lua"}
	}
	sc := Script{Name: pattern, Source: string(src), File: name}
	lines := bufio.NewScanner(bytes.NewReader(src))
	lines.Buffer(make([]byte, 0, 4096), len(src)+1)
	for n := 1; lines.Scan(); n++ {
		line := strings.TrimSpace(lines.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "--") || strings.HasPrefix(line, "--[") {
			break // the header ends with the first line of code (or a block comment)
		}
		rest, ok := strings.CutPrefix(line, directivePrefix)
		if !ok {
			continue
		}
		key, value, ok := strings.Cut(rest, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		bad := func(format string, args ...any) error {
			return &CompileError{Script: pattern, File: name, Line: n, Message: fmt.Sprintf(format, args...)}
		}
		if !ok {
			return Script{}, bad("a directive is -- fastlua: key = value")
		}
		switch key {
		case "is_active", "allow_event_modification", "fail_open":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return Script{}, bad("%s must be true or false, not %q", key, value)
			}
			switch key {
			case "is_active":
				sc.Disabled = !b
			case "allow_event_modification":
				sc.ReadOnly = !b
			case "fail_open":
				sc.FailOpen = b
			}
		case "time_limit":
			if value == "none" {
				sc.TimeLimit = -1
				break
			}
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return Script{}, bad("time_limit must be a duration such as 250ms, or none, not %q", value)
			}
			sc.TimeLimit = d
		default:
			return Script{}, bad("unknown setting %q (is_active, allow_event_modification, fail_open, time_limit)", key)
		}
	}
	return sc, nil
}

// FormatScriptFile is the content of the file for sc: directives for the settings that are not
// the defaults, then the source without any directives it had.
func FormatScriptFile(sc Script) []byte {
	var b bytes.Buffer
	if sc.Disabled {
		b.WriteString(directivePrefix + " is_active = false\n")
	}
	if sc.ReadOnly {
		b.WriteString(directivePrefix + " allow_event_modification = false\n")
	}
	if sc.FailOpen {
		b.WriteString(directivePrefix + " fail_open = true\n")
	}
	switch {
	case sc.TimeLimit > 0:
		b.WriteString(directivePrefix + " time_limit = " + sc.TimeLimit.String() + "\n")
	case sc.TimeLimit < 0:
		b.WriteString(directivePrefix + " time_limit = none\n")
	}
	b.WriteString(StripDirectives(sc.Source))
	return b.Bytes()
}

// StripDirectives returns a source without its header's directive lines.
func StripDirectives(src string) string {
	var out strings.Builder
	header := true
	for _, line := range strings.SplitAfter(src, "\n") {
		t := strings.TrimSpace(line)
		if header && t != "" && (!strings.HasPrefix(t, "--") || strings.HasPrefix(t, "--[")) {
			header = false
		}
		if header && strings.HasPrefix(t, directivePrefix) {
			continue
		}
		out.WriteString(line)
	}
	return out.String()
}

// LoadScripts reads every <pattern>.lua file at the top of dir in fsys (use "." for its root),
// following symlinks. A name that cannot be read as a file (a dangling or looping symlink, a
// directory), an empty file, one that changed while it was read, and one that does not parse
// are reported, all together; the others are returned.
func LoadScripts(fsys fs.FS, dir string) ([]Script, error) {
	files, err := readScriptFiles(fsys, dir, 0)
	if err != nil {
		return nil, err
	}
	var scripts []Script
	var errs []error
	for _, f := range files {
		if f.err != nil {
			errs = append(errs, f.err)
			continue
		}
		scripts = append(scripts, f.sc)
	}
	return scripts, errors.Join(errs...)
}

// scriptFile is one <pattern>.lua name at the top of a directory and what reading it gave.
type scriptFile struct {
	name string // the name in the directory
	sc   Script // when err is nil
	err  error
}

// errChanging is the error of a file that changed while it was read.
var errChanging = errors.New("it changed while it was read")

// readScriptFiles reads the <pattern>.lua names at the top of dir in fsys, skipping names that
// start with "." (editors' and the admin API's temporary files, a Kubernetes volume's ..data
// and timestamped directories). Each name gets its script or its error: not a regular file,
// larger than maxSize (when positive), changed while it was read, empty (a file being written
// is not a script yet), or not parsing. The error is only for a directory that cannot be
// listed.
func readScriptFiles(fsys fs.FS, dir string, maxSize int) ([]scriptFile, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("fastlua: reading scripts: %w", err)
	}
	var files []scriptFile
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".lua") {
			continue
		}
		sc, err := readScriptFile(fsys, path.Join(dir, name), maxSize)
		files = append(files, scriptFile{name: name, sc: sc, err: err})
	}
	return files, nil
}

func readScriptFile(fsys fs.FS, file string, maxSize int) (Script, error) {
	bad := func(format string, args ...any) (Script, error) {
		return Script{}, fmt.Errorf("fastlua: reading %s: "+format, append([]any{file}, args...)...)
	}
	before, err := fs.Stat(fsys, file) // through symlinks
	switch {
	case err != nil:
		return bad("%w", err)
	case before.IsDir():
		return bad("it is a directory, not a script file")
	case !before.Mode().IsRegular():
		return bad("it is not a regular file (%v)", before.Mode().Type())
	case maxSize > 0 && before.Size() > int64(maxSize):
		return bad("it is %d bytes, more than the limit of %d (Config.MaxScriptSize)", before.Size(), maxSize)
	}
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		return bad("%w", err)
	}
	if after, err := fs.Stat(fsys, file); err != nil || !sameVersion(before, after) || after.Size() != int64(len(src)) {
		return bad("%w", errChanging)
	}
	if len(src) == 0 {
		return Script{}, fmt.Errorf("fastlua: %s is empty (a file being written?): an empty file is never installed; remove the file to remove its script", file)
	}
	return ParseScriptFile(file, src)
}

// sameVersion reports whether two stats of a path show the same file, unchanged. os.SameFile
// compares only what os.Stat returned (it is false for other file systems' FileInfo, even for a
// and a itself), so the identity is compared where it is known.
func sameVersion(a, b fs.FileInfo) bool {
	if a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) || a.Mode() != b.Mode() {
		return false
	}
	return !os.SameFile(a, a) || os.SameFile(a, b)
}

// writeScriptFile writes sc's file into dir atomically: a temporary file in the same directory,
// synced, then renamed over the old one.
func writeScriptFile(dir string, sc Script) (string, error) {
	final := filepath.Join(dir, sc.Name+".lua")
	tmp, err := os.CreateTemp(dir, ".fastlua-*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(FormatScriptFile(sc)); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return final, nil
}

// sortScripts orders scripts by name.
func sortScripts(list []Script) {
	slices.SortFunc(list, func(a, b Script) int { return strings.Compare(a.Name, b.Name) })
}
