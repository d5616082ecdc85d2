package fastlua

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Hot reload.
//
// Config.ScriptDir is a path, and the path is what is watched, not the directory it named at
// the start: fsnotify watches the directory and its parent, and when the path names another
// directory (renamed over, deleted and recreated, a symlink to it swapped) the watch moves to
// it. Any event in the directory, whatever the name (a Kubernetes ConfigMap update is only a
// rename of the ..data link), starts a quiet period (editors write a file in several steps);
// then the directory is read again and compared with what was installed from it. A full read
// also runs every rescanInterval, for what no event announced. New and changed files are
// compiled and installed in one snapshot swap, so a request sees either the old set or the new.
//
// Nothing is removed on weak evidence, so a read at the wrong moment never drops a script (an
// auth script gone is a bypass): a file that is there but cannot be used (a dangling or looping
// symlink, a directory, unreadable, empty, changing while read, not compiling) keeps its
// running version, and is logged and counted once per problem; a script whose file is gone is
// removed, and logged, at the second read that finds it gone, a quiet period after the first;
// a directory that cannot be read keeps every script, logged once, until it can be read again.

// reloadQuiet is how long the directory must be quiet before it is read again.
const reloadQuiet = 100 * time.Millisecond

// rescanInterval is how often the directory is read even without events (a variable for
// tests).
var rescanInterval = 5 * time.Second

// ScriptDirStats describe the reading of Config.ScriptDir.
type ScriptDirStats struct {
	// Reloads counts the reads of the directory that changed the installed scripts.
	Reloads uint64
	// Rejected counts the files not installed: a name that cannot be read as a file (a
	// dangling or looping symlink, a directory), an empty file, one that changed while it was
	// read or does not compile. A problem counts (and is logged) once, however often the file
	// is read, and again when it changes (another source that does not compile, say); the
	// running version of the script, if any, stays.
	Rejected uint64
	// Missing is true while the directory cannot be read; the scripts installed from it stay.
	Missing bool
}

// ScriptDirStats returns the counters of Config.ScriptDir's reloads (zero without a ScriptDir).
func (m *Middleware) ScriptDirStats() ScriptDirStats {
	if m.watcher == nil {
		return ScriptDirStats{}
	}
	return m.watcher.stats()
}

type dirWatcher struct {
	m      *Middleware
	dir    string            // Config.ScriptDir, cleaned
	parent string            // its parent; "" when it has none
	w      *fsnotify.Watcher // nil for a watcher driven by hand (tests)
	rescan time.Duration     // rescanInterval when the watcher was made
	stop   chan struct{}
	done   chan struct{}

	// What the watches are on (nil: none); used by the loop only.
	dirID, parentID os.FileInfo

	// mu is held for a read of the directory and its install, and by the admin API while it
	// changes files, so that neither sees the other's work half done.
	mu       sync.Mutex
	reported map[string]string // file name → the problem last logged for it
	gone     map[string]bool   // scripts whose file the last read did not find

	reloads, rejected atomic.Uint64
	missing           atomic.Bool
}

func newDirWatcher(m *Middleware, dir string) *dirWatcher {
	dir = filepath.Clean(dir)
	dw := &dirWatcher{m: m, dir: dir, rescan: rescanInterval, reported: map[string]string{}, gone: map[string]bool{}}
	if p := filepath.Dir(dir); p != dir {
		dw.parent = p
	}
	return dw
}

func (m *Middleware) watchDir(dir string) (*dirWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	dw := newDirWatcher(m, dir)
	dw.w, dw.stop, dw.done = w, make(chan struct{}), make(chan struct{})
	if _, err := dw.rewatch(); err != nil {
		w.Close()
		return nil, err
	}
	if dw.parent != "" && dw.parentID == nil {
		m.logger.Warn("fastlua: the script directory's parent cannot be watched: a replaced directory is noticed only by the periodic read",
			slog.String("dir", dw.dir), slog.Duration("every", dw.rescan))
	}
	dw.sync() // what changed since New read the directory
	go dw.loop()
	return dw, nil
}

func (dw *dirWatcher) stats() ScriptDirStats {
	return ScriptDirStats{Reloads: dw.reloads.Load(), Rejected: dw.rejected.Load(), Missing: dw.missing.Load()}
}

func (dw *dirWatcher) loop() {
	defer close(dw.done)
	timer := time.NewTimer(reloadQuiet)
	timer.Stop()
	defer timer.Stop()
	var quiet <-chan time.Time
	soon := func() {
		timer.Reset(reloadQuiet)
		quiet = timer.C
	}
	rescan := time.NewTicker(dw.rescan)
	defer rescan.Stop()
	for {
		select {
		case <-dw.stop:
			return
		case ev, ok := <-dw.w.Events:
			if !ok {
				return
			}
			switch name := filepath.Clean(ev.Name); {
			case name == dw.dir: // the directory itself, or the link to it, was replaced, moved or removed
				_, _ = dw.rewatch()
				soon()
			case filepath.Dir(name) == dw.dir:
				soon()
			}
		case err, ok := <-dw.w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: read everything again.
			dw.m.logger.Error("fastlua: watching the script directory", slog.String("dir", dw.dir), slog.Any("error", err))
			soon()
		case <-quiet:
			quiet = nil
			if dw.sync() {
				soon()
			}
		case <-rescan.C:
			_, _ = dw.rewatch()
			if dw.sync() {
				soon()
			}
		}
	}
}

// rewatch puts the watches on what the paths name now: the parent, and the directory (again,
// when the path names another directory than the watch is on, or the watch was lost). It
// reports whether the directory's watch changed, and the error of a directory that cannot be
// watched.
func (dw *dirWatcher) rewatch() (changed bool, err error) {
	if dw.parent != "" {
		if fi, err := os.Stat(dw.parent); err == nil && (dw.parentID == nil || !os.SameFile(fi, dw.parentID) || !dw.watching(dw.parent)) {
			if dw.parentID != nil {
				_ = dw.w.Remove(dw.parent)
			}
			dw.parentID = nil
			if dw.w.Add(dw.parent) == nil {
				dw.parentID = fi
			}
		}
	}
	fi, err := os.Stat(dw.dir)
	if err == nil && !fi.IsDir() {
		err = fmt.Errorf("%s is not a directory", dw.dir)
	}
	if err == nil && dw.dirID != nil && os.SameFile(fi, dw.dirID) && dw.watching(dw.dir) {
		return false, nil
	}
	if dw.dirID != nil {
		_ = dw.w.Remove(dw.dir) // fsnotify may have dropped it already
		dw.dirID = nil
		changed = true
	}
	if err != nil {
		return changed, err
	}
	if err := dw.w.Add(dw.dir); err != nil {
		return changed, err
	}
	dw.dirID = fi
	return true, nil
}

func (dw *dirWatcher) watching(path string) bool { return slices.Contains(dw.w.WatchList(), path) }

func (dw *dirWatcher) close() {
	close(dw.stop)
	dw.w.Close()
	<-dw.done
}

// sync reads the directory and installs what changed, by the rules in the file's header. It
// reports whether another read should follow soon: a file was gone, or changing, at this one.
func (dw *dirWatcher) sync() (again bool) {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	m := dw.m
	files, err := readScriptFiles(os.DirFS(dw.dir), ".", m.cfg.MaxScriptSize)
	if err != nil {
		if !dw.missing.Swap(true) {
			m.logger.Error("fastlua: the script directory cannot be read; the scripts installed from it stay until it can",
				slog.String("dir", dw.dir), slog.Any("error", err))
		}
		return false
	}
	if dw.missing.Swap(false) {
		m.logger.Info("fastlua: the script directory can be read again", slog.String("dir", dw.dir))
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	cur := m.routes.Load().byName
	present := map[string]bool{}    // scripts a file here stands for, usable or not
	defined := map[string]string{}  // script → the file that defines it at this read
	problems := map[string]string{} // file → its problem at this read (with the source it had)
	var add []*script
	for _, f := range files {
		name := strings.TrimSuffix(f.name, ".lua")
		if pat, err := parsePattern(name); err == nil {
			name = pat.text
		}
		present[name] = true
		if f.err != nil {
			problems[f.name] = f.err.Error()
			again = again || errors.Is(f.err, errChanging)
			continue
		}
		sc := f.sc
		sc.Name, sc.File = name, filepath.Join(dw.dir, f.name)
		if other, dup := defined[name]; dup {
			problems[f.name] = fmt.Sprintf("fastlua: %s defines the script %s, which %s defines already; this file is ignored and the script from %s runs", f.name, name, other, other) + "\x00"
			continue
		}
		if old := cur[name]; old != nil && old.Script == sc {
			defined[name] = f.name
			continue // unchanged
		}
		if key := "\x00" + sc.Source; strings.HasSuffix(dw.reported[f.name], key) {
			problems[f.name] = dw.reported[f.name] // this version failed before: not again
			continue
		}
		s, err := m.prepare(sc)
		if err != nil {
			problems[f.name] = err.Error() + "\x00" + sc.Source
			continue
		}
		defined[name] = f.name
		add = append(add, s)
	}
	for _, file := range slices.Sorted(maps.Keys(problems)) {
		problem := problems[file]
		if dw.reported[file] == problem {
			continue // logged and counted already
		}
		dw.rejected.Add(1)
		msg, source, _ := strings.Cut(problem, "\x00")
		switch pat, err := parsePattern(strings.TrimSuffix(file, ".lua")); {
		case source == "" && strings.HasSuffix(problem, "\x00"):
			// a duplicate: the message says which file runs
		case err == nil && cur[pat.text] != nil:
			msg += "; the running version stays"
		default:
			msg += "; it is not installed"
		}
		m.logger.Error("fastlua: "+strings.TrimPrefix(msg, "fastlua: "), slog.String("dir", dw.dir))
	}
	dw.reported = problems

	var remove []string
	gone := map[string]bool{}
	for name, s := range cur {
		if s.File == "" || filepath.Dir(s.File) != dw.dir || present[name] {
			continue
		}
		if !dw.gone[name] {
			gone[name] = true // removed at the next read if still gone
			again = true
			continue
		}
		remove = append(remove, name)
	}
	dw.gone = gone
	m.update(add, remove)
	slices.Sort(remove)
	for _, name := range remove {
		m.logger.Info("fastlua: script removed: its file is gone", slog.String("script", name), slog.String("dir", dw.dir))
	}
	if len(add) > 0 || len(remove) > 0 {
		dw.reloads.Add(1)
		m.logger.Info("fastlua: scripts reloaded", slog.String("dir", dw.dir), slog.Int("changed", len(add)), slog.Int("removed", len(remove)))
	}
	return again
}
