package fastlua

import (
	"errors"
	"fmt"
	"maps"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Scripts: the Script type and its settings, and Set/Remove, which compile a new set and swap
// the route table in at once (requests in flight keep the set they started with).

// Script is one event script and its settings. The zero value of every setting is the
// default: active, allowed to modify the event, failing closed, with Config.TimeLimit.
type Script struct {
	// Name is the event pattern the script is registered on, such as
	// "db._table.{table_name}.get.pre_process". It identifies the script: setting a script of
	// the same name replaces it.
	Name string
	// Source is the Lua source.
	Source string
	// Disabled keeps the script installed but not run (DreamFactory's is_active = false).
	Disabled bool
	// ReadOnly makes every change to the event raise an error naming the flag
	// (DreamFactory's allow_event_modification = false).
	ReadOnly bool
	// FailOpen logs and counts the script's errors and lets the request go on, instead of
	// answering with an error.
	FailOpen bool
	// TimeLimit is the script's time limit per run. Zero means Config.TimeLimit; negative means
	// none.
	TimeLimit time.Duration
	// File is the file the script was read from (Config.ScriptDir or Config.ScriptFS), or "".
	File string
}

// script is an installed Script.
type script struct {
	Script
	pat   *pattern
	proto *lua.FunctionProto
	slot  int           // index of the state's function for this script
	limit time.Duration // resolved time limit; 0 for none
	stats *scriptStats  // kept by the name across replacements
	// straight is true for scripts that run each instruction at most once (straightLine):
	// their time limit needs no check in the VM.
	straight bool
}

// prepare parses and compiles a Script.
func (m *Middleware) prepare(sc Script) (*script, error) {
	pat, err := parsePattern(sc.Name)
	if err != nil {
		var pe *PatternError
		if sc.File != "" && errors.As(err, &pe) { // the file's name is the mistake
			return nil, &CompileError{Script: sc.Name, File: sc.File, Message: "the file name is not an event pattern: " + pe.Msg, Err: pe}
		}
		return nil, err
	}
	sc.Name = pat.text
	if max := m.cfg.MaxTimeLimit; max > 0 && (sc.TimeLimit < 0 || sc.TimeLimit > max) {
		asked := "none"
		if sc.TimeLimit > 0 {
			asked = sc.TimeLimit.String()
		}
		return nil, &CompileError{Script: sc.Name, File: sc.File, Line: directiveLine(sc.Source, "time_limit"),
			Message: fmt.Sprintf("time_limit %s is not allowed: scripts may set at most %v (Config.MaxTimeLimit)", asked, max)}
	}
	proto, err := m.compiler.compile(sc.Name, sc.Source)
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			ce.File = sc.File
		}
		return nil, err
	}
	s := &script{Script: sc, pat: pat, proto: proto, straight: straightLine(proto)}
	switch {
	case sc.TimeLimit > 0:
		s.limit = sc.TimeLimit
	case sc.TimeLimit == 0 && m.cfg.TimeLimit > 0:
		s.limit = m.cfg.TimeLimit
	}
	return s, nil
}

// Set installs scripts, replacing those of the same names. It is all or nothing: if any script
// has an invalid pattern or does not compile, none is installed and the error (a
// *ScriptsError holding a *PatternError or *CompileError for each) says which. Set is safe while requests run;
// a request uses the scripts that were installed when it arrived.
func (m *Middleware) Set(scripts ...Script) error {
	prepared := make([]*script, 0, len(scripts))
	seen := map[string]string{} // name → the file that gave it
	var errs []error
	for _, sc := range scripts {
		s, err := m.prepare(sc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := seen[s.Name]; dup {
			msg := fmt.Sprintf("script %s is given twice", s.Name)
			if first != "" {
				msg = fmt.Sprintf("script %s is defined by %s already", s.Name, first)
			}
			errs = append(errs, &CompileError{Script: s.Name, File: s.File, Message: msg})
			continue
		}
		seen[s.Name] = s.File
		prepared = append(prepared, s)
	}
	if err := joinScriptErrors(errs); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.update(prepared, nil)
	return nil
}

// Remove uninstalls the scripts with the given names (patterns) and reports how many there
// were.
func (m *Middleware) Remove(names ...string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.update(nil, names)
}

// update installs prepared scripts and removes names in one new snapshot, and returns how many
// of the names it removed. m.mu is held.
func (m *Middleware) update(add []*script, remove []string) int {
	byName := maps.Clone(m.routes.Load().byName)
	removed := 0
	for _, name := range remove {
		if pat, err := parsePattern(name); err == nil {
			name = pat.text
		}
		if old := byName[name]; old != nil {
			m.freeSlots = append(m.freeSlots, old.slot)
			delete(byName, name)
			removed++
		}
	}
	for _, s := range add {
		if old := byName[s.Name]; old != nil {
			m.freeSlots = append(m.freeSlots, old.slot)
			s.stats = old.stats
		} else {
			s.stats = m.newScriptStats()
		}
		s.slot = m.allocSlot()
		byName[s.Name] = s
	}
	if len(add) > 0 || removed > 0 {
		m.install(byName)
	}
	return removed
}

// Script returns the installed script with the given name (pattern).
func (m *Middleware) Script(name string) (Script, bool) {
	if pat, err := parsePattern(name); err == nil {
		name = pat.text
	}
	s, ok := m.routes.Load().byName[name]
	if !ok {
		return Script{}, false
	}
	return s.Script, true
}

// Scripts returns the installed scripts, ordered by name.
func (m *Middleware) Scripts() []Script {
	list := m.routes.Load().sortedScripts()
	out := make([]Script, len(list))
	for i, s := range list {
		out[i] = s.Script
	}
	return out
}

// install swaps in a new snapshot. m.mu is held.
func (m *Middleware) install(byName map[string]*script) {
	m.routes.Store(newRoutes(m.prefix, byName))
	var shortest time.Duration
	for _, s := range byName {
		if s.limit > 0 && (shortest == 0 || s.limit < shortest) {
			shortest = s.limit
		}
	}
	switch {
	case shortest > 0:
		m.watchdog.setTick(tickFor(shortest))
	case m.watchdog.memLimit > 0:
		m.watchdog.setTick(tickFor(time.Second)) // the memory guard needs the clock
	default:
		m.watchdog.setTick(0)
	}
}

func (m *Middleware) allocSlot() int {
	if n := len(m.freeSlots); n > 0 {
		slot := m.freeSlots[n-1]
		m.freeSlots = m.freeSlots[:n-1]
		return slot
	}
	m.nextSlot++
	return m.nextSlot - 1
}
