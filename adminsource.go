package fastlua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"
)

// The admin API with Config.ScriptSource (see AdminHandler): writes go to the source, as one
// change each (a POST of several records is one version), and this instance installs the new
// set before it answers; the others follow within the source's announcement. Records carry
// "version" (the version of the set that wrote the running version), and a GET of one script
// its "history" (the versions the source keeps, newest first). Also, with or without a source:
//
//	GET    .../event_script/_status            this instance: {"shared", "version", "reachable", "last_sync", "refused", ...}
//	POST   .../event_script/{name}/rollback    {"version": N}: a new version holding version N of the script
//
// A PATCH is made on the set as it was when the PATCH read it: if another change came first,
// the answer is 409 and nothing changed (read and PATCH again); a POST replaces, the later
// write (by version) winning everywhere. A DELETE (or a rollback to a deletion) of a script the
// source does not hold is 404 and changes nothing (ErrSourceNoScript).

// adminSourceTimeout bounds one admin request's calls to the source.
const adminSourceTimeout = 10 * time.Second

type adminSharedOut struct {
	adminOut
	Version uint64         `json:"version,omitempty"`
	History []adminVersion `json:"history,omitempty"`
}

type adminVersion struct {
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
	Deleted bool      `json:"deleted,omitempty"`
	*adminOut
}

// adminShared serves the shared-source routes and the status; it reports whether it answered.
// rest is the path's segments below the admin API's root (adminRest).
func (m *Middleware) adminShared(ctx *fasthttp.RequestCtx, rest []string) bool {
	method := string(ctx.Method())
	switch {
	case len(rest) == 1 && rest[0] == "_status":
		if method != "GET" {
			adminError(ctx, 405, method+" is not supported here")
			return true
		}
		adminJSON(ctx, 200, m.adminStatus())
		return true
	case len(rest) == 2 && rest[1] == "rollback":
		if method != "POST" {
			adminError(ctx, 405, method+" is not supported here")
			return true
		}
		m.adminRollback(ctx, rest[0])
		return true
	}
	if m.source == nil || method != "GET" || len(rest) > 1 {
		return false
	}
	if len(rest) == 0 || rest[0] == "" {
		list := m.Scripts()
		out := make([]adminSharedOut, len(list))
		for i, sc := range list {
			out[i] = adminSharedOut{adminOut: recordOf(sc), Version: m.sourceVersion(sc.Name)}
		}
		adminJSON(ctx, 200, map[string]any{"resource": out})
		return true
	}
	sc, found := m.Script(rest[0])
	c, cancel := context.WithTimeout(context.Background(), adminSourceTimeout)
	defer cancel()
	hist, err := m.source.src.History(c, canonicalName(rest[0]))
	if !found && (err != nil || len(hist) == 0) {
		adminError(ctx, 404, "no script "+rest[0])
		return true
	}
	out := adminSharedOut{Version: m.sourceVersion(sc.Name)}
	if found {
		out.adminOut = recordOf(sc)
	} else {
		out.adminOut = adminOut{Name: canonicalName(rest[0]), Type: "lua"}
	}
	for _, v := range hist {
		av := adminVersion{Version: v.Version, At: v.At.UTC(), Deleted: v.Deleted}
		if !v.Deleted {
			r := recordOf(v.Script)
			r.File = ""
			av.adminOut = &r
		}
		out.History = append(out.History, av)
	}
	if err != nil {
		m.logger.Warn("fastlua: admin API: the script's history cannot be read", slog.String("script", sc.Name), slog.Any("error", err))
	}
	adminJSON(ctx, 200, out)
	return true
}

func canonicalName(name string) string {
	if pat, err := parsePattern(name); err == nil {
		return pat.text
	}
	return name
}

func (m *Middleware) adminStatus() map[string]any {
	out := map[string]any{"shared": m.source != nil, "scripts": len(m.routes.Load().byName)}
	if m.source == nil {
		return out
	}
	st := m.ScriptSourceStats()
	out["version"] = st.Version
	out["last_known_good"] = st.LastKnownGood
	out["reachable"] = st.Reachable
	if st.Unreadable {
		out["unreadable"] = true
	}
	out["failures"] = st.Failures
	out["refused"] = st.Refused
	if !st.LastSync.IsZero() {
		out["last_sync"] = st.LastSync.UTC()
	} else {
		out["last_sync"] = nil
	}
	if st.LastError != "" {
		out["last_error"] = st.LastError
	}
	if st.LastKnownGoodError != "" {
		out["last_known_good_error"] = st.LastKnownGoodError
	}
	return out
}

// adminPatchBase, with a source, reads its latest set so that a PATCH changes what is there
// now, and keeps the version the PATCH read (the change is made only if the set is still at
// it). It reports false when it answered with an error. m.adminMu is held.
func (m *Middleware) adminPatchBase(ctx *fasthttp.RequestCtx) bool {
	ss := m.source
	if ss == nil {
		return true
	}
	c, cancel := context.WithTimeout(context.Background(), adminSourceTimeout)
	defer cancel()
	ss.sync(c)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.down {
		adminError(ctx, 503, "the shared script source cannot be read: "+ss.lastErr)
		return false
	}
	ss.patchBase = ss.version
	return true
}

// adminSaveShared writes scripts to the source as one change (a PATCH's conditional on the
// version it read: the PATCH is the one caller answering 200). m.adminMu is held.
func (m *Middleware) adminSaveShared(ctx *fasthttp.RequestCtx, status int, scripts []Script) {
	change := ScriptChange{Put: scripts}
	if status == 200 {
		base := m.source.patchBase
		change.IfVersion = &base
	}
	v, ok := m.adminApply(ctx, change)
	if !ok {
		return
	}
	names := make([]string, len(scripts))
	for i, sc := range scripts {
		names[i] = canonicalName(sc.Name)
	}
	if m.adminNotInstalled(ctx, v, names...) {
		return
	}
	out := make([]adminSharedOut, 0, len(scripts))
	for _, sc := range scripts {
		name := canonicalName(sc.Name)
		if run, found := m.Script(name); found {
			sc = run
		}
		out = append(out, adminSharedOut{adminOut: recordOf(sc), Version: v})
		m.logger.Info("fastlua: script saved through the admin API, in the shared source", slog.String("script", name), slog.Uint64("version", v))
	}
	if len(out) == 1 {
		adminJSON(ctx, status, out[0])
		return
	}
	adminJSON(ctx, status, map[string]any{"resource": out})
}

// adminNotInstalled answers 202 when this instance does not run version v, which a change
// through it just wrote (it could not read the set back: ScriptSourceStats.LastError), and
// reports whether it answered: the change is made, and every instance installs it once it can
// read the set; a 201 or 200 showing the running record would say it runs here.
func (m *Middleware) adminNotInstalled(ctx *fasthttp.RequestCtx, v uint64, names ...string) bool {
	st := m.ScriptSourceStats()
	if st.Version >= v {
		return false
	}
	adminJSON(ctx, 202, map[string]any{"version": v, "installed": false, "scripts": names, "running_version": st.Version,
		"message": fmt.Sprintf("the change is written as version %d, but this instance cannot read the set back and runs version %d: %s", v, st.Version, st.LastError)})
	return true
}

// adminApply makes change in the source and answers the errors; it returns the new version.
func (m *Middleware) adminApply(ctx *fasthttp.RequestCtx, change ScriptChange) (uint64, bool) {
	if m.closing.Load() {
		adminError(ctx, 503, ErrClosed.Error())
		return 0, false
	}
	c, cancel := context.WithTimeout(context.Background(), adminSourceTimeout)
	defer cancel()
	v, err := m.applySource(c, change)
	var refusal *sourceRefusal
	switch {
	case errors.As(err, &refusal):
		adminError(ctx, 400, err.Error())
		return 0, false
	case errors.Is(err, ErrSourceNoScript):
		adminError(ctx, 404, err.Error()+": nothing was changed")
		return 0, false
	case errors.Is(err, ErrSourceConflict):
		adminError(ctx, 409, err.Error()+": nothing was changed; read the script and send the change again")
		return 0, false
	case err != nil:
		m.logger.Error("fastlua: an admin API change could not be written to the shared source: " + err.Error())
		adminError(ctx, 503, "the change could not be written to the shared script source, and nothing was changed: "+err.Error())
		return 0, false
	}
	return v, true
}

// adminDeleteShared removes a script from the source. m.adminMu is held.
func (m *Middleware) adminDeleteShared(ctx *fasthttp.RequestCtx, name string) {
	// The source says whether it holds the script (a delete of nothing is 404 and makes no
	// version), not this instance: it may run a script deleted meanwhile, or not run one it
	// refused.
	name = canonicalName(name)
	v, ok := m.adminApply(ctx, ScriptChange{Delete: []string{name}})
	if !ok {
		return
	}
	if m.adminNotInstalled(ctx, v, name) {
		return
	}
	m.logger.Info("fastlua: script deleted through the admin API, in the shared source", slog.String("script", name), slog.Uint64("version", v))
	adminJSON(ctx, 200, map[string]any{"name": name, "version": v})
}

// adminRollback makes a new version of a script holding an earlier one (or deleting it, when
// the earlier version is a deletion).
func (m *Middleware) adminRollback(ctx *fasthttp.RequestCtx, name string) {
	if m.source == nil {
		adminError(ctx, 404, "rollback needs a shared script source (Config.ScriptSource): this instance keeps no versions")
		return
	}
	var body struct {
		Version *uint64 `json:"version"`
	}
	if err := json.Unmarshal(ctx.Request.Body(), &body); err != nil || body.Version == nil {
		adminError(ctx, 400, `the body is {"version": N}, N a version from the script's history`)
		return
	}
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	name = canonicalName(name)
	c, cancel := context.WithTimeout(context.Background(), adminSourceTimeout)
	defer cancel()
	hist, err := m.source.src.History(c, name)
	if err != nil {
		adminError(ctx, 503, err.Error())
		return
	}
	var to *ScriptVersion
	for i := range hist {
		if hist[i].Version == *body.Version {
			to = &hist[i]
		}
	}
	if to == nil {
		adminError(ctx, 404, fmt.Sprintf("the script %s has no version %d among the %d kept", name, *body.Version, len(hist)))
		return
	}
	change := ScriptChange{Put: []Script{to.Script}}
	if to.Deleted {
		change = ScriptChange{Delete: []string{name}}
	}
	v, ok := m.adminApply(ctx, change)
	if !ok || m.adminNotInstalled(ctx, v, name) {
		return
	}
	m.logger.Info("fastlua: script rolled back through the admin API", slog.String("script", name), slog.Uint64("to", to.Version), slog.Uint64("version", v))
	out := adminSharedOut{Version: v}
	if sc, found := m.Script(name); found && !to.Deleted {
		out.adminOut = recordOf(sc)
	} else {
		out.adminOut = adminOut{Name: name, Type: "lua"}
	}
	adminJSON(ctx, 200, out)
}
