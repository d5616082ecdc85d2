package fastlua

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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
// with it). The admin API changes files with fileTx: all of a change, or nothing.

const directivePrefix = "-- fastlua:"

// isScriptName reports whether a name at the top of a script directory is a script file:
// <pattern>.lua, not starting with "." and not a script test (*_test.lua).
func isScriptName(name string) bool {
	return !strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".lua") && !strings.HasSuffix(name, "_test.lua")
}

// SkippedFile is a file at the top of a script directory that looks like a script but is not
// loaded, and why.
type SkippedFile struct {
	Name   string // the name in the directory
	Reason string
}

// SkippedFiles lists the files at the top of dir in fsys that look like scripts but are not
// loaded: a name ending in another case of ".lua" (".LUA"), one without an extension that
// reads like an event pattern, and a directory of .lua files (the scripts of an fs.FS must be
// at its top: use fs.Sub). New logs them, and fastlua check reports them. Names starting with
// "." and script tests (*_test.lua) are not listed: they are skipped on purpose.
func SkippedFiles(fsys fs.FS, dir string) ([]SkippedFile, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("fastlua: reading scripts: %w", err)
	}
	var out []SkippedFile
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || isScriptName(name) || strings.HasSuffix(name, "_test.lua") {
			continue
		}
		ext := path.Ext(name)
		switch {
		case e.IsDir():
			if n := countLua(fsys, path.Join(dir, name)); n > 0 {
				out = append(out, SkippedFile{name, fmt.Sprintf("a directory of scripts (%d): only the files at the top are read (for an fs.FS, use fs.Sub(fsys, %q))", n, name)})
			}
		case strings.EqualFold(ext, ".lua"):
			out = append(out, SkippedFile{name, fmt.Sprintf("the extension is %q: a script file's name ends in \".lua\", in lower case", ext)})
		case phaseSuffix(name):
			out = append(out, SkippedFile{name, "it has no .lua extension: a script file is named <pattern>.lua"})
		case phaseSuffix(strings.TrimSuffix(name, ext)):
			out = append(out, SkippedFile{name, fmt.Sprintf("the extension is %q: a script file is named <pattern>.lua", ext)})
		}
	}
	return out, nil
}

// phaseSuffix reports whether a name ends like an event pattern (".pre_process" and so on).
func phaseSuffix(name string) bool {
	for _, p := range []string{".pre_process", ".post_process", ".queued"} {
		if strings.HasSuffix(name, p) {
			return true
		}
	}
	return false
}

// countLua counts the script files at the top of dir.
func countLua(fsys fs.FS, dir string) int {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() && isScriptName(e.Name()) {
			n++
		}
	}
	return n
}

// ScriptsError is the error of New and Set when scripts cannot be installed: every problem
// found, one for each script or file. Each is a *CompileError (a script that does not compile,
// a bad directive or file name), a *PatternError, or another error naming its file (one that
// cannot be read, a script given twice). Take them apart with errors.As:
//
//	var se *fastlua.ScriptsError
//	if errors.As(err, &se) {
//		for _, e := range se.Errors { ... errors.As(e, &compileErr) ... }
//	}
type ScriptsError struct {
	Errors []error
}

// Error returns the error's text.
func (e *ScriptsError) Error() string {
	return errors.Join(e.Errors...).Error()
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *ScriptsError) Unwrap() []error { return e.Errors }

// joinScriptErrors makes one ScriptsError of errs (nils dropped, ScriptsErrors and joined errors
// flattened), or nil.
func joinScriptErrors(errs []error) error {
	var flat []error
	var add func(err error)
	add = func(err error) {
		switch e := err.(type) {
		case nil:
		case *ScriptsError:
			for _, x := range e.Errors {
				add(x)
			}
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				add(x)
			}
		default:
			flat = append(flat, err)
		}
	}
	for _, err := range errs {
		add(err)
	}
	if len(flat) == 0 {
		return nil
	}
	return &ScriptsError{Errors: flat}
}

// loadFS reads the scripts at the top of fsys for New (where names fsys in errors). Files that
// look like scripts but are skipped are logged with the reason; a file system whose scripts are
// all in one subdirectory is an error saying to use fs.Sub.
func (m *Middleware) loadFS(fsys fs.FS, where string) ([]Script, error) {
	if _, err := fs.Stat(fsys, "."); err != nil {
		return nil, fmt.Errorf("fastlua: the script directory %s cannot be read: %w", where, err)
	}
	list, err := LoadScripts(fsys, ".")
	skipped, _ := SkippedFiles(fsys, ".")
	var dirs []string
	for _, sk := range skipped {
		if fi, serr := fs.Stat(fsys, sk.Name); serr == nil && fi.IsDir() {
			dirs = append(dirs, sk.Name)
			continue
		}
		m.logger.Warn("fastlua: a file that looks like a script is skipped", slog.String("dir", where),
			slog.String("file", sk.Name), slog.String("reason", sk.Reason))
	}
	if len(list) == 0 && err == nil && len(dirs) == 1 {
		return nil, fmt.Errorf("fastlua: %s holds no script files at its top, but its directory %q does: use fs.Sub(fsys, %q)", where, dirs[0], dirs[0])
	}
	for _, d := range dirs {
		m.logger.Warn("fastlua: a directory of scripts is skipped: only the files at the top are read", slog.String("dir", where),
			slog.String("subdirectory", d))
	}
	return list, err
}

// directiveLine returns the line of the directive key in a source's header, or 0.
func directiveLine(src, key string) int {
	for n, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && (!strings.HasPrefix(t, "--") || strings.HasPrefix(t, "--[")) {
			break
		}
		if rest, ok := strings.CutPrefix(t, directivePrefix); ok {
			if k, _, _ := strings.Cut(rest, "="); strings.TrimSpace(k) == key {
				return n + 1
			}
		}
	}
	return 0
}

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
// listed. A file that changed while it was read is read again, three times at most.
func readScriptFiles(fsys fs.FS, dir string, maxSize int) ([]scriptFile, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("fastlua: reading scripts: %w", err)
	}
	var files []scriptFile
	for _, e := range entries {
		name := e.Name()
		if !isScriptName(name) {
			continue
		}
		sc, err := readScriptFile(fsys, path.Join(dir, name), maxSize)
		for try := 1; try < 3 && errors.Is(err, errChanging); try++ { // replaced by a rename, say
			sc, err = readScriptFile(fsys, path.Join(dir, name), maxSize)
		}
		files = append(files, scriptFile{name: name, sc: sc, err: err})
	}
	return files, nil
}

// FileError reports a script file that cannot be used: it cannot be read, is not a regular
// file, is too large, is empty, or changed while it was read.
type FileError struct {
	File   string // the file's name in its directory or file system
	Reason string // why, without the file's name
	Err    error  // the underlying error, if any
}

// Error returns the error's text.
func (e *FileError) Error() string {
	if e.Err == errEmpty {
		return "fastlua: " + e.File + " " + e.Reason
	}
	return "fastlua: reading " + e.File + ": " + e.Reason
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

var errEmpty = errors.New("empty")

func readScriptFile(fsys fs.FS, file string, maxSize int) (Script, error) {
	bad := func(format string, args ...any) (Script, error) {
		err := fmt.Errorf(format, args...)
		return Script{}, &FileError{File: file, Reason: err.Error(), Err: errors.Unwrap(err)}
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
		return Script{}, &FileError{File: file, Err: errEmpty,
			Reason: "is empty (a file being written?): an empty file is never installed; remove the file to remove its script"}
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

// fileTx changes script files in one directory all or nothing. apply writes every new content
// to a temporary file first, then renames each into place, keeping the file it replaces (or a
// removal takes away) under a second name; if a step fails, every step done is undone in
// reverse, and so nothing is changed. The kept files are dropped at the end.
type fileTx struct {
	dir  string
	puts []txPut
	dels []string
}

type txPut struct {
	file    string
	content []byte
}

// put writes content to file, replacing it.
func (tx *fileTx) put(file string, content []byte) {
	tx.puts = append(tx.puts, txPut{file, content})
}

// remove removes file; one that is not there is no error.
func (tx *fileTx) remove(file string) { tx.dels = append(tx.dels, file) }

func (tx *fileTx) apply() (err error) {
	var undo []func() error // in the order they were done
	var kept []string
	defer func() {
		if err != nil {
			var failed []error
			for i := len(undo) - 1; i >= 0; i-- {
				if uerr := undo[i](); uerr != nil {
					failed = append(failed, uerr)
				}
			}
			if len(failed) > 0 {
				err = fmt.Errorf("%w; putting the old files back failed: %w", err, errors.Join(failed...))
			} else {
				err = fmt.Errorf("%w; nothing was changed", err)
			}
		}
		for _, k := range kept {
			_ = os.Remove(k)
		}
		if d, derr := os.Open(tx.dir); derr == nil { // make the renames durable
			_ = d.Sync()
			d.Close()
		}
	}()
	tmps := make([]string, len(tx.puts))
	for i, p := range tx.puts {
		tmp, err := writeTemp(tx.dir, ".tmp", p.content)
		if err != nil {
			return fmt.Errorf("writing %s: %w", p.file, err)
		}
		tmps[i] = tmp
		undo = append(undo, func() error { return removeIfThere(tmp) })
	}
	for i, p := range tx.puts {
		old, err := keepFile(tx.dir, p.file)
		if err != nil {
			return fmt.Errorf("writing %s: keeping the old file: %w", p.file, err)
		}
		if err := os.Rename(tmps[i], p.file); err != nil {
			if old != "" {
				_ = os.Remove(old)
			}
			return fmt.Errorf("writing %s: %w", p.file, err)
		}
		if old != "" {
			kept = append(kept, old)
			undo = append(undo, func() error { return os.Rename(old, p.file) })
		} else {
			undo = append(undo, func() error { return os.Remove(p.file) })
		}
	}
	for _, f := range tx.dels {
		old := filepath.Join(tx.dir, ".fastlua-"+rand.Text()+".old")
		if err := os.Rename(f, old); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("removing %s: %w", f, err)
		}
		kept = append(kept, old)
		undo = append(undo, func() error { return os.Rename(old, f) })
	}
	return nil
}

// keepFile gives the file at path a second name in dir, a hard link (or, on a file system
// without them, a copy), so that it can be put back after a rename replaced it. It returns ""
// when there is nothing to keep: no file, or a directory (a rename cannot replace it).
func keepFile(dir, path string) (string, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", err
	case fi.IsDir():
		return "", nil
	}
	link := filepath.Join(dir, ".fastlua-"+rand.Text()+".old")
	if err := os.Link(path, link); err == nil {
		return link, nil
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return writeTemp(dir, ".old", content)
}

// writeTemp writes content to a new temporary file in dir, synced, and returns its name.
func writeTemp(dir, suffix string, content []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".fastlua-*"+suffix)
	if err != nil {
		return "", err
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func removeIfThere(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// sortScripts orders scripts by name.
func sortScripts(list []Script) {
	slices.SortFunc(list, func(a, b Script) int { return strings.Compare(a.Name, b.Name) })
}
