package fastlua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Shared scripts.
//
// With Config.ScriptSource, the scripts are a set several instances share: the source holds
// it, with a cluster-wide version that every change bumps, and each instance installs what the
// source holds. A change announced by the source (ScriptSource.Watch) is installed at once; a
// full read every Config.ScriptResync catches anything an announcement missed. A version that
// does not compile here is not installed: the running version of that script stays, and the
// script is reported (logged once, ScriptSourceStats.Refused, the admin API's status). The
// installed set goes through the same path as a reload of Config.ScriptDir (prepare, then one
// snapshot swap), so a request sees the old set or the new.
//
// Config.ScriptDir is then the instance's last-known-good directory: read at start, as
// without a source, so an instance started while the source is unreachable serves the set it
// last ran; written, all or nothing (fileTx), after every change installed; not watched
// (the source is where scripts change). A source that was never written (version 0: a new or
// emptied Redis) is not installed over a non-empty running set: that would remove every
// script, auth scripts included; it is logged instead. A directory that does not load (a file that does
// not compile, an empty one) does not stop an instance that can read the source: the source's
// set replaces it (logged, and written to it); New fails only when the source cannot give a
// set either. A write of the directory that fails is logged and kept in
// ScriptSourceStats.LastKnownGoodError until one succeeds. While the source cannot be read the
// instance keeps serving what it runs, logs that once, counts it (ScriptSourceStats), and
// tries again every second until it can.

// ScriptSource is a script set shared by several instances (redisstore.ScriptSource keeps one
// on Redis). Every method may be called concurrently.
type ScriptSource interface {
	// Load returns the whole set and its version, as of one moment.
	Load(ctx context.Context) (ScriptSet, error)
	// Apply makes a change, all of it or nothing, as one new version of the set; it returns
	// that version. With ScriptChange.IfVersion set, it changes nothing and returns
	// ErrSourceConflict unless the set is still at that version. A change that deletes a
	// script the set does not hold changes nothing and returns ErrSourceNoScript. The names
	// in a change fastlua makes are canonical (CanonicalName).
	Apply(ctx context.Context, change ScriptChange) (uint64, error)
	// History returns the versions kept of one script, newest first (a deletion is one too).
	History(ctx context.Context, name string) ([]ScriptVersion, error)
	// Watch calls changed whenever the set may have changed (after a change, and whenever the
	// announcements may have been missed, as after a reconnection), until ctx ends; changed
	// must not block. It returns when ctx ends.
	Watch(ctx context.Context, changed func()) error
}

// ScriptSet is a ScriptSource's whole set.
type ScriptSet struct {
	// Version is the set's version: 0 for a source never written.
	Version uint64
	// Scripts are the scripts, each with the version that wrote it.
	Scripts []ScriptVersion
}

// ScriptVersion is one version of a script in a ScriptSource.
type ScriptVersion struct {
	Script
	// Version is the version of the set that wrote it.
	Version uint64
	// At is when it was written.
	At time.Time
	// Deleted marks a version that removed the script (in a history only).
	Deleted bool
}

// ScriptChange is one change of a ScriptSource's set.
type ScriptChange struct {
	// Put are scripts created or replaced.
	Put []Script
	// Delete are the names of scripts removed.
	Delete []string
	// IfVersion, when not nil, makes the change conditional on the set's version.
	IfVersion *uint64
}

// ErrSourceConflict is the error of a conditional ScriptChange whose set had another version.
var ErrSourceConflict = errors.New("fastlua: the shared script set changed meanwhile")

// ErrSourceUnreadable is the error (wrapped) of a ScriptSource.Load that reached the source but
// found an entry it cannot read (not written by fastlua, or damaged): nothing of the set is
// installed until the entry is written again; the source is reachable.
var ErrSourceUnreadable = errors.New("fastlua: the shared script set holds an entry that cannot be read")

// ErrSourceNoScript is the error of a ScriptChange that deletes a script the set does not hold:
// the change is not made (a delete of nothing makes no version).
var ErrSourceNoScript = errors.New("fastlua: the shared script set holds no such script")

// CanonicalName returns the one spelling of a script's name (an event pattern) that every
// name for the same script has: the verb in lower case. Two names with one canonical name are
// one script; a ScriptSource keeps each script under its canonical name. It fails for a name
// that is not an event pattern.
func CanonicalName(name string) (string, error) {
	pat, err := parsePattern(name)
	if err != nil {
		return "", err
	}
	return pat.text, nil
}

// maxScriptName is the longest canonical name a script may have where it has a file (a
// directory it is written to, the last-known-good directory of a shared set): a file's name
// holds at most 255 bytes, ".lua" included.
const maxScriptName = 255 - len(".lua")

// nameFitsFile refuses a canonical name too long for a script file's name.
func nameFitsFile(name string) error {
	if len(name) > maxScriptName {
		return fmt.Errorf("the name %.40q... is %d bytes; a script file's name holds at most %d", name, len(name), maxScriptName)
	}
	return nil
}

// ScriptSourceStats describe this instance's use of Config.ScriptSource.
type ScriptSourceStats struct {
	// Shared is true with a Config.ScriptSource (every other field is zero without one).
	Shared bool
	// Version is the version of the set this instance runs (0: none read yet; then it runs
	// what Config.ScriptDir held at start, LastKnownGood).
	Version uint64
	// LastKnownGood is the version the last-known-good directory held when it was read at
	// start, when that is what the instance runs.
	LastKnownGood uint64
	// LastSync is when the source was last read successfully (zero: never).
	LastSync time.Time
	// Reachable is false while the source cannot be reached (a read fails for another reason
	// than Unreadable).
	Reachable bool
	// Unreadable is true while the source answers but holds an entry that cannot be read
	// (ErrSourceUnreadable, in LastError): no change is installed until it is written again.
	Unreadable bool
	// LastError is the error of the last read that failed, while Reachable is false.
	LastError string
	// Failures counts the reads of the source that failed.
	Failures uint64
	// Syncs counts the reads that installed a change.
	Syncs uint64
	// Refused are the scripts whose version in the source is not installed here, each with
	// its error (a compile error, a time limit above Config.MaxTimeLimit).
	Refused map[string]string
	// LastKnownGoodError is why the last write of the last-known-good directory failed, while
	// it holds an older set than the one running ("" once a write succeeds).
	LastKnownGoodError string
}

// ScriptSourceStats returns the state of Config.ScriptSource (zero without one).
func (m *Middleware) ScriptSourceStats() ScriptSourceStats {
	ss := m.source
	if ss == nil {
		return ScriptSourceStats{}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ScriptSourceStats{Shared: true, Version: ss.version, LastSync: ss.lastSync, Reachable: !ss.down || ss.unreadable, Unreadable: ss.down && ss.unreadable, LastError: ss.lastErr,
		Failures: ss.failures.Load(), Syncs: ss.syncs.Load(), Refused: map[string]string{}, LastKnownGoodError: ss.lkgErr}
	if ss.version == 0 {
		st.LastKnownGood = ss.lkgVersion
	}
	for name, problem := range ss.refused {
		st.Refused[name], _, _ = strings.Cut(problem, "\x00")
	}
	return st
}

// sourceRetry is how often a source that cannot be read is tried again (a variable for tests).
var sourceRetry = time.Second

// lkgMeta is the file in the last-known-good directory holding the version of its set (its name
// starts with ".": never read as a script).
const lkgMeta = ".fastlua-source.json"

type lkgInfo struct {
	Version  uint64            `json:"version"`
	Versions map[string]uint64 `json:"versions"` // script → the version that wrote it
}

type sourceSync struct {
	m       *Middleware
	src     ScriptSource
	dir     string // the last-known-good directory, cleaned; "" for none
	resync  time.Duration
	kick    chan struct{}
	lkgKick chan struct{} // lkgLoop has the directory to write
	stop    context.CancelFunc
	done    sync.WaitGroup

	run sync.Mutex // one read-and-install at a time

	mu         sync.Mutex
	version    uint64            // the version installed
	lkgVersion uint64            // the version the directory held at start
	versions   map[string]uint64 // script → the version that wrote what runs
	refused    map[string]string // script → "problem\x00source" of the version not installed
	lastSync   time.Time
	down       bool // the last read failed
	unreadable bool // it failed on an entry (ErrSourceUnreadable), not reaching the source
	lastErr    string
	emptyLog   bool   // the empty-source warning was logged
	patchBase  uint64 // the version a PATCH read (m.adminMu)
	lkgWritten bool   // the directory was written, at version lkgAt
	lkgAt      uint64
	lkgErr     string // the last write of the directory failed so

	failures, syncs atomic.Uint64
}

// startSource starts following src. lkgErr is what reading the last-known-good directory
// failed with (its files did not all load): then the instance starts only if it installs the
// source's set now (the directory is rewritten from it); if the source cannot be read either,
// New fails with both errors rather than serve part of a set.
func (m *Middleware) startSource(src ScriptSource, lkgErr error) error {
	ss := &sourceSync{m: m, src: src, resync: m.cfg.ScriptResync, kick: make(chan struct{}, 1), lkgKick: make(chan struct{}, 1),
		versions: map[string]uint64{}, refused: map[string]string{}}
	if m.cfg.ScriptDir != "" {
		ss.dir = filepath.Clean(m.cfg.ScriptDir)
		meta := filepath.Join(ss.dir, lkgMeta)
		b, err := os.ReadFile(meta)
		var info lkgInfo
		if err == nil {
			err = json.Unmarshal(b, &info)
		}
		switch {
		case err == nil:
			ss.lkgVersion = info.Version
			for name, v := range info.Versions {
				ss.versions[name] = v
			}
		case !errors.Is(err, os.ErrNotExist):
			m.logger.Warn("fastlua: the last-known-good directory's version file cannot be read: its set's version is taken as unknown (0)",
				slog.String("file", meta), slog.Any("error", err))
		}
	}
	m.source = ss
	ctx, cancel := context.WithCancel(context.Background())
	ss.stop = cancel
	first, firstCancel := context.WithTimeout(ctx, 5*time.Second)
	ss.sync(first)
	firstCancel()
	if lkgErr != nil {
		ss.mu.Lock()
		version, lastErr := ss.version, ss.lastErr
		ss.mu.Unlock()
		if version == 0 {
			cancel()
			m.source = nil
			why := "it is empty (never written)"
			if lastErr != "" {
				why = "it cannot be read: " + lastErr
			}
			return fmt.Errorf("%w; and the shared script source, which would replace them, has no set to serve: %s", lkgErr, why)
		}
		m.logger.Warn("fastlua: the last-known-good directory does not load; the shared set is installed instead and the directory is written from it: "+lkgErr.Error(),
			slog.String("dir", ss.dir), slog.Uint64("version", version))
	}
	ss.done.Add(3)
	go ss.lkgLoop(ctx)
	go func() {
		defer ss.done.Done()
		_ = src.Watch(ctx, ss.poke)
	}()
	go ss.loop(ctx)
	return nil
}

func (ss *sourceSync) poke() {
	select {
	case ss.kick <- struct{}{}:
	default:
	}
}

func (ss *sourceSync) close() {
	ss.stop()
	ss.done.Wait()
}

func (ss *sourceSync) loop(ctx context.Context) {
	defer ss.done.Done()
	resync := time.NewTicker(ss.resync)
	defer resync.Stop()
	retry := time.NewTicker(sourceRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ss.kick:
		case <-resync.C:
		case <-retry.C:
			ss.mu.Lock()
			down := ss.down
			ss.mu.Unlock()
			if !down {
				continue
			}
		}
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ss.sync(c)
		cancel()
	}
}

// sync reads the source and installs what changed in it.
func (ss *sourceSync) sync(ctx context.Context) {
	ss.run.Lock()
	defer ss.run.Unlock()
	m := ss.m
	set, err := ss.src.Load(ctx)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // closing
		}
		ss.failures.Add(1)
		ss.lastErr = err.Error()
		unreadable := errors.Is(err, ErrSourceUnreadable)
		if !ss.down || unreadable != ss.unreadable {
			msg := "fastlua: the shared script source cannot be read; this instance keeps serving the scripts it runs and tries again every second"
			if unreadable {
				msg = "fastlua: the shared script set holds an entry that cannot be read: no change is installed until it is written again (through the admin API, or by hand); this instance keeps serving the scripts it runs"
			}
			m.logger.Error(msg, slog.Uint64("version", ss.version), slog.Uint64("last_known_good", ss.lkgVersion), slog.Any("error", err))
		}
		ss.down, ss.unreadable = true, unreadable
		return
	}
	if ss.down {
		ss.down, ss.unreadable = false, false
		ss.lastErr = ""
		m.logger.Info("fastlua: the shared script source can be read again", slog.Uint64("version", set.Version))
	}
	ss.lastSync = time.Now()
	if set.Version == 0 && len(set.Scripts) == 0 {
		if n := len(m.routes.Load().byName); n > 0 {
			if !ss.emptyLog {
				ss.emptyLog = true
				m.logger.Warn("fastlua: the shared script source is empty (never written): the running scripts stay; write a script to it (or seed it) to share them",
					slog.Int("scripts", n))
			}
			return
		}
	}
	ss.emptyLog = false
	ss.install(set) // compared whole, not by version: a set changed by hand is installed too
}

// install installs set, by the rules in the file's header. ss.mu is held.
func (ss *sourceSync) install(set ScriptSet) {
	m := ss.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	cur := m.routes.Load().byName
	want := map[string]bool{}
	refused := map[string]string{}
	versions := map[string]uint64{}
	var add []*script
	for _, sv := range ss.latest(set.Scripts) {
		sc := ss.normal(sv.Script)
		name := sc.Name
		if pat, err := parsePattern(name); err == nil {
			name = pat.text
			sc.Name = name
			if ss.dir != "" {
				sc.File = filepath.Join(ss.dir, name+".lua")
			}
		}
		want[name] = true
		if old := cur[name]; old != nil && old.Script == sc {
			versions[name] = sv.Version
			continue
		}
		key := "\x00" + sc.Source
		if p := ss.refused[name]; strings.HasSuffix(p, key) && p != key {
			refused[name] = p // this version failed before: not again
			versions[name] = ss.versions[name]
			continue
		}
		s, err := ss.prepare(sc)
		if err != nil {
			refused[name] = err.Error() + key
			versions[name] = ss.versions[name]
			msg := "; it is not installed"
			if cur[name] != nil {
				msg = "; the running version stays"
			}
			m.logger.Error("fastlua: a shared script's version does not compile here: "+strings.TrimPrefix(err.Error(), "fastlua: ")+msg,
				slog.String("script", name), slog.Uint64("version", sv.Version))
			continue
		}
		versions[name] = sv.Version
		add = append(add, s)
	}
	var remove []string
	for name := range cur {
		if !want[name] {
			remove = append(remove, name)
		}
	}
	m.update(add, remove)
	ss.refused, ss.version = refused, set.Version
	run := m.routes.Load().byName
	for name := range versions {
		if run[name] == nil {
			delete(versions, name)
		}
	}
	ss.versions = versions
	if len(add) > 0 || len(remove) > 0 {
		ss.syncs.Add(1)
		m.logger.Info("fastlua: shared scripts installed", slog.Uint64("version", set.Version), slog.Int("changed", len(add)), slog.Int("removed", len(remove)))
	}
	if ss.dir != "" && (len(add) > 0 || len(remove) > 0 || !ss.lkgWritten || set.Version != ss.lkgAt) {
		select { // the directory is written by lkgLoop, so that no fsync delays the next change
		case ss.lkgKick <- struct{}{}:
		default:
		}
	}
}

// latest is the scripts of a set with one version of each script: of entries whose names
// are spellings of one script (a source must not hold them: see CanonicalName), the one of
// the latest version, so that every instance installs the same one.
func (ss *sourceSync) latest(scripts []ScriptVersion) []ScriptVersion {
	at := map[string]int{}
	out := make([]ScriptVersion, 0, len(scripts))
	for _, sv := range scripts {
		name, err := CanonicalName(sv.Name)
		if err != nil {
			out = append(out, sv) // refused by install
			continue
		}
		if i, dup := at[name]; dup {
			if sv.Version > out[i].Version || sv.Version == out[i].Version && sv.Name > out[i].Name {
				out[i] = sv
			}
			continue
		}
		at[name] = len(out)
		out = append(out, sv)
	}
	return out
}

// lkgLoop writes the last-known-good directory after the changes installed, the latest set
// each time (several changes in a row are one write), and once more at the end for a change
// not written yet.
func (ss *sourceSync) lkgLoop(ctx context.Context) {
	defer ss.done.Done()
	for {
		select {
		case <-ss.lkgKick:
			ss.writeLKG()
		case <-ctx.Done():
			select {
			case <-ss.lkgKick:
				ss.writeLKG()
			default:
			}
			return
		}
	}
}

// normal is sc as it runs and as the last-known-good directory holds it: its source is the
// file's content (directives for its settings first), so line numbers are the file's and a
// script read back from the directory is equal to the one installed from the source.
func (ss *sourceSync) normal(sc Script) Script {
	sc.File = ""
	sc.Source = string(FormatScriptFile(sc))
	return sc
}

// writeLKG makes the last-known-good directory hold the running set, all or nothing; a
// failure is logged (the directory keeps the set it held).
func (ss *sourceSync) writeLKG() {
	ss.mu.Lock() // install holds it while it swaps the set in: the set and its version agree
	run := ss.m.routes.Load().byName
	info := lkgInfo{Version: ss.version, Versions: ss.versions} // install replaces the map, never changes it
	ss.mu.Unlock()
	if err := ss.writeDir(run, info); err != nil {
		ss.m.logger.Error("fastlua: writing the last-known-good script directory failed; it keeps the set it held: "+err.Error(), slog.String("dir", ss.dir))
		ss.mu.Lock()
		ss.lkgErr = err.Error()
		ss.mu.Unlock()
		return
	}
	ss.mu.Lock()
	ss.lkgWritten, ss.lkgAt, ss.lkgErr = true, info.Version, ""
	ss.mu.Unlock()
}

func (ss *sourceSync) writeDir(run map[string]*script, info lkgInfo) error {
	tx := fileTx{dir: ss.dir}
	for name, s := range run {
		file := filepath.Join(ss.dir, name+".lua")
		if b, err := os.ReadFile(file); err == nil && string(b) == s.Source {
			continue
		}
		tx.put(file, []byte(s.Source))
	}
	entries, err := os.ReadDir(ss.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, isLua := strings.CutSuffix(e.Name(), ".lua")
		if !isLua || strings.HasPrefix(name, ".") {
			continue
		}
		if pat, err := parsePattern(name); err == nil && run[pat.text] != nil && pat.text == name {
			continue
		}
		tx.remove(filepath.Join(ss.dir, e.Name()))
	}
	meta, _ := json.Marshal(info)
	tx.put(filepath.Join(ss.dir, lkgMeta), meta)
	return tx.apply()
}

// sourceVersion returns the version of the set that wrote the running version of a script
// (0 without a source).
func (m *Middleware) sourceVersion(name string) uint64 {
	ss := m.source
	if ss == nil {
		return 0
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.versions[name]
}

// applySource makes a change in the source, after checking that every script in it compiles
// here, and installs the source's new set before it returns, so that this instance serves the
// change when its answer arrives. It returns the new version.
func (m *Middleware) applySource(ctx context.Context, change ScriptChange) (uint64, error) {
	ss := m.source
	var msgs []string
	for i, sc := range change.Put {
		// Every spelling of a name is one script, kept under its canonical name: two entries
		// for one script would run the one read last, which need not be the one written last.
		if name, err := CanonicalName(sc.Name); err == nil {
			sc.Name = name
			change.Put[i].Name = name
		}
		sc.File = ""
		sc = ss.normal(sc)
		if _, err := ss.prepare(sc); err != nil {
			msgs = append(msgs, err.Error())
		}
		change.Put[i].Source = StripDirectives(change.Put[i].Source)
		change.Put[i].File = ""
	}
	if len(msgs) > 0 {
		return 0, &sourceRefusal{strings.Join(msgs, "; ")}
	}
	change.Delete = slices.Clone(change.Delete)
	for i, name := range change.Delete {
		if c, err := CanonicalName(name); err == nil {
			change.Delete[i] = c
		}
	}
	v, err := ss.src.Apply(ctx, change)
	if err != nil {
		return 0, err
	}
	ss.sync(ctx)
	return v, nil
}

// prepare compiles a script of the shared set as this instance would install it: its name
// must also fit a file's (every instance may keep it in a last-known-good directory).
func (ss *sourceSync) prepare(sc Script) (*script, error) {
	if name, err := CanonicalName(sc.Name); err == nil {
		if err := nameFitsFile(name); err != nil {
			return nil, &PatternError{Pattern: sc.Name, Msg: err.Error()}
		}
	}
	return ss.m.prepare(sc)
}

// sourceRefusal is the error of a change refused before it was written (a script that does
// not compile).
type sourceRefusal struct{ msg string }

func (e *sourceRefusal) Error() string { return e.msg }
