package fastlua

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Hot reload.
//
// Config.ScriptDir is watched with fsnotify. Events are gathered for a short quiet period
// (editors write a file in several steps: truncate, write, rename), then the directory is read
// again and compared with what it installed: new and changed files are compiled and installed,
// files that are gone are removed, all in one snapshot swap, so a request sees either the old
// set or the new one. A file that does not parse or compile is logged with its line and message
// and its previous version (if any) keeps running.

// reloadQuiet is how long the directory must be quiet before it is read again.
const reloadQuiet = 100 * time.Millisecond

type dirWatcher struct {
	m    *Middleware
	dir  string
	w    *fsnotify.Watcher
	stop chan struct{}
	done chan struct{}
}

func (m *Middleware) watchDir(dir string) (*dirWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, err
	}
	dw := &dirWatcher{m: m, dir: dir, w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go dw.loop()
	return dw, nil
}

func (dw *dirWatcher) loop() {
	defer close(dw.done)
	var quiet <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case <-dw.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-dw.w.Events:
			if !ok {
				return
			}
			base := filepath.Base(ev.Name)
			if strings.HasPrefix(base, ".") || !strings.HasSuffix(base, ".lua") {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(reloadQuiet)
			} else {
				timer.Reset(reloadQuiet)
			}
			quiet = timer.C
		case err, ok := <-dw.w.Errors:
			if !ok {
				return
			}
			dw.m.logger.Error("fastlua: watching the script directory", slog.String("dir", dw.dir), slog.Any("error", err))
		case <-quiet:
			quiet = nil
			dw.m.syncDir(dw.dir)
		}
	}
}

func (dw *dirWatcher) close() {
	close(dw.stop)
	dw.w.Close()
	<-dw.done
}

// syncDir reads dir again and installs what changed. It returns the errors of the files that
// were not installed.
func (m *Middleware) syncDir(dir string) error {
	scripts, loadErr := LoadScripts(os.DirFS(dir), ".")
	var errs []error
	if loadErr != nil {
		errs = append(errs, loadErr)
	}
	// Names whose file is there but unreadable keep their running version.
	keep := map[string]bool{}
	var ce *CompileError
	for _, err := range unjoin(loadErr) {
		if errors.As(err, &ce) {
			if pat, perr := parsePattern(ce.Script); perr == nil {
				keep[pat.text] = true
			}
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	cur := m.routes.Load().byName
	var add []*script
	seen := map[string]bool{}
	for _, sc := range scripts {
		sc.File = filepath.Join(dir, filepath.Base(sc.File))
		s, err := m.prepare(sc)
		if err != nil {
			errs = append(errs, err)
			if pat, perr := parsePattern(sc.Name); perr == nil {
				keep[pat.text] = true
			}
			continue
		}
		if seen[s.Name] {
			errs = append(errs, errors.New("fastlua: two files in "+dir+" define the script "+s.Name))
			continue
		}
		seen[s.Name] = true
		if old := cur[s.Name]; old != nil && old.Script == s.Script {
			continue // unchanged
		}
		add = append(add, s)
	}
	var remove []string
	for name, s := range cur {
		if s.File != "" && filepath.Dir(s.File) == filepath.Clean(dir) && !seen[name] && !keep[name] {
			remove = append(remove, name)
		}
	}
	m.update(add, remove)
	for _, err := range errs {
		m.logger.Error("fastlua: script not installed: "+err.Error(), slog.String("dir", dir))
	}
	if len(add) > 0 || len(remove) > 0 {
		m.logger.Info("fastlua: scripts reloaded", slog.String("dir", dir), slog.Int("changed", len(add)), slog.Int("removed", len(remove)))
	}
	return errors.Join(errs...)
}

// unjoin returns the errors joined in err (or err itself).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
