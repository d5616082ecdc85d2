package fastlua

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// The admin API: DreamFactory's system/event_script resource over HTTP (list, read, create,
// replace, patch, delete), behind a token. A write is read, made and installed under one lock
// (adminMu); with a ScriptDir it goes to the files all-or-nothing (fileTx), with a ScriptSource
// to the source (adminsource.go).

// maxAdminBody bounds an admin request body (under fasthttp's default 4 MiB request limit).
const maxAdminBody = 2 << 20

type adminRecord struct {
	Name                   *string      `json:"name"`
	Type                   *string      `json:"type"`
	Content                *string      `json:"content"`
	IsActive               *bool        `json:"is_active"`
	AllowEventModification *bool        `json:"allow_event_modification"`
	Config                 *adminConfig `json:"config"`
}

type adminConfig struct {
	FailOpen  *bool   `json:"fail_open,omitempty"`
	TimeLimit *string `json:"time_limit,omitempty"`
}

type adminOut struct {
	Name                   string         `json:"name"`
	Type                   string         `json:"type"`
	Content                string         `json:"content"`
	IsActive               bool           `json:"is_active"`
	AllowEventModification bool           `json:"allow_event_modification"`
	Config                 map[string]any `json:"config"`
	File                   string         `json:"file,omitempty"`
}

func recordOf(sc Script) adminOut {
	cfg := map[string]any{"fail_open": sc.FailOpen, "time_limit": nil}
	switch {
	case sc.TimeLimit > 0:
		cfg["time_limit"] = sc.TimeLimit.String()
	case sc.TimeLimit < 0:
		cfg["time_limit"] = "none"
	}
	return adminOut{Name: sc.Name, Type: "lua", Content: StripDirectives(sc.Source), IsActive: !sc.Disabled,
		AllowEventModification: !sc.ReadOnly, Config: cfg, File: sc.File}
}

// apply sets the fields of r on sc.
func (r *adminRecord) apply(sc *Script) error {
	if r.Type != nil && !strings.EqualFold(*r.Type, "lua") {
		return fmt.Errorf("type %q is not supported: fastlua runs lua", *r.Type)
	}
	if r.Content != nil {
		sc.Source = *r.Content
	}
	if r.IsActive != nil {
		sc.Disabled = !*r.IsActive
	}
	if r.AllowEventModification != nil {
		sc.ReadOnly = !*r.AllowEventModification
	}
	if c := r.Config; c != nil {
		if c.FailOpen != nil {
			sc.FailOpen = *c.FailOpen
		}
		if c.TimeLimit != nil {
			switch v := *c.TimeLimit; v {
			case "", "default":
				sc.TimeLimit = 0
			case "none":
				sc.TimeLimit = -1
			default:
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("config.time_limit must be a duration such as 250ms, \"none\" or \"default\", not %q", v)
				}
				sc.TimeLimit = d
			}
		}
	}
	return nil
}

// AdminHandler returns the admin API: it serves the installed scripts as DreamFactory's
// system/event_script resource does. Records are
//
//	{"name": "db._table.{table_name}.get.pre_process", "type": "lua", "content": "...",
//	 "is_active": true, "allow_event_modification": true,
//	 "config": {"fail_open": false, "time_limit": "250ms"}}
//
// and the routes, below wherever the handler is mounted (the path's last "event_script"
// segment, and the name after it):
//
//	GET    .../event_script          {"resource": [records]}
//	GET    .../event_script/{name}   one record
//	POST   .../event_script          create or replace: a record, or {"resource": [records]}
//	POST   .../event_script/{name}   create or replace one
//	PATCH  .../event_script/{name}   change the fields given
//	DELETE .../event_script/{name}   remove
//
// Every request needs Config.AdminToken, as "Authorization: Bearer <token>" or in the
// X-Fastlua-Admin-Token header (compared in constant time); without it the answer is 401, and
// when no token is configured every request is refused. A body that is not valid (a script
// given twice included), or a script that does not compile, is answered with 400 and the errors (file, line, message) and changes
// nothing. With Config.ScriptDir, a change is written to the directory, so that it survives a
// restart, all or nothing: every file is written under a temporary name, then renamed into
// place; if any step fails, the files replaced are put back, the running scripts do not change,
// and the answer is 500. Errors use DreamFactory's error body. With Config.ScriptSource, changes
// are written to the source instead, and there are versions, a rollback and a status route (see
// adminsource.go).
func (m *Middleware) AdminHandler() fasthttp.RequestHandler {
	return m.AdminHandlerWith(AdminOptions{})
}

// AdminOptions are where the admin API is mounted and who may use it (AdminHandlerWith).
type AdminOptions struct {
	// Mount is the path the API is mounted at, as "/admin/scripts": its routes are then below
	// it (GET /admin/scripts, GET /admin/scripts/{name}, .../_status, .../{name}/rollback)
	// instead of below the path's last "event_script" segment. Default "": the latter.
	Mount string

	// Verify, when set, is a credential besides Config.AdminToken: a request it returns true
	// for is let in (a program's own auth: a session, mTLS, an API gateway's header). A
	// request it refuses may still bring the token. With Verify and no AdminToken, only Verify
	// lets requests in. Default nil: the token only.
	Verify func(ctx *fasthttp.RequestCtx) bool
}

// AdminHandlerWith is AdminHandler mounted at o.Mount, letting in the requests o.Verify
// accepts as well as those with Config.AdminToken.
func (m *Middleware) AdminHandlerWith(o AdminOptions) fasthttp.RequestHandler {
	var want [sha256.Size]byte
	if m.cfg.AdminToken != "" {
		want = sha256.Sum256([]byte(m.cfg.AdminToken))
	}
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		if o.Verify == nil || !o.Verify(ctx) {
			if m.cfg.AdminToken == "" {
				if o.Verify != nil {
					adminError(ctx, 401, "not authorized (AdminOptions.Verify refused the request, and Config.AdminToken is not set)")
				} else {
					adminError(ctx, 401, "the admin API is disabled: Config.AdminToken is not set")
				}
				return
			}
			token := ctx.Request.Header.Peek("X-Fastlua-Admin-Token")
			if auth := ctx.Request.Header.Peek("Authorization"); len(token) == 0 && len(auth) > 7 && strings.EqualFold(string(auth[:7]), "bearer ") {
				token = auth[7:]
			}
			got := sha256.Sum256(token)
			if len(token) == 0 || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				adminError(ctx, 401, "an admin token is required (Authorization: Bearer <token>)")
				return
			}
		}
		rest, ok := adminRest(string(ctx.Path()), o.Mount)
		if !ok {
			adminError(ctx, 404, "not an admin API path (an event_script path, or below AdminOptions.Mount)")
			return
		}
		if len(ctx.Request.Body()) > maxAdminBody {
			adminError(ctx, 413, fmt.Sprintf("the body is larger than %d bytes", maxAdminBody))
			return
		}
		if m.adminShared(ctx, rest) { // with Config.ScriptSource, or its status and rollback paths
			return
		}
		name, hasName, ok := adminPath(rest)
		if !ok {
			adminError(ctx, 404, "not an event_script path")
			return
		}
		switch method := string(ctx.Method()); {
		case method == "GET" && !hasName:
			list := m.Scripts()
			out := make([]adminOut, len(list))
			for i, sc := range list {
				out[i] = recordOf(sc)
			}
			adminJSON(ctx, 200, map[string]any{"resource": out})
		case method == "GET":
			sc, found := m.Script(name)
			if !found {
				adminError(ctx, 404, "no script "+name)
				return
			}
			adminJSON(ctx, 200, recordOf(sc))
		case method == "POST":
			m.adminPost(ctx, name, hasName)
		case method == "PATCH" && hasName:
			m.adminPatch(ctx, name)
		case method == "DELETE" && hasName:
			m.adminDelete(ctx, name)
		default:
			adminError(ctx, 405, method+" is not supported here")
		}
	}
}

// adminRest is the segments of path p below the admin API's root: below mount when it is set
// ("" or "/" mounts it at the root), else below the path's last "event_script" segment. ok is
// false for a path outside it.
func adminRest(p, mount string) (rest []string, ok bool) {
	if mount != "" {
		below, found := strings.CutPrefix(p, strings.TrimSuffix(mount, "/"))
		if !found || below != "" && below[0] != '/' {
			return nil, false
		}
		if below = strings.Trim(below, "/"); below == "" {
			return nil, true
		}
		return strings.Split(below, "/"), true
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i] == "event_script" {
			return segs[i+1:], true
		}
	}
	return nil, false
}

// adminPath finds the script name in the segments below the admin API's root (adminRest).
func adminPath(rest []string) (name string, hasName, ok bool) {
	switch len(rest) {
	case 0:
		return "", false, true
	case 1:
		return rest[0], rest[0] != "", true
	}
	return "", false, false
}

func adminJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		adminError(ctx, 500, err.Error())
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetBody(b)
}

func adminError(ctx *fasthttp.RequestCtx, status int, msg string) {
	WriteError(&ctx.Response, status, msg)
}

// decodeRecords reads a record, or {"resource": [records]}.
func decodeRecords(body []byte) ([]adminRecord, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("the body is empty: send a record or {\"resource\": [records]}")
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("the body is not a JSON object: %v", err)
	}
	if raw, ok := probe["resource"]; ok {
		var list []adminRecord
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("resource must be a list of records: %v", err)
		}
		if len(list) == 0 {
			return nil, errors.New("resource is empty")
		}
		return list, nil
	}
	var r adminRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("not a valid record: %v", err)
	}
	return []adminRecord{r}, nil
}

func (m *Middleware) adminPost(ctx *fasthttp.RequestCtx, pathName string, hasName bool) {
	m.adminMu.Lock() // a change is read, made and written whole: two admins never interleave
	defer m.adminMu.Unlock()
	records, err := decodeRecords(ctx.Request.Body())
	if err != nil {
		adminError(ctx, 400, err.Error())
		return
	}
	if hasName && len(records) != 1 {
		adminError(ctx, 400, "POST to a script's own path takes one record")
		return
	}
	var scripts []Script
	for i, r := range records {
		name := pathName
		if r.Name != nil {
			name = *r.Name
		}
		if hasName && r.Name != nil && *r.Name != pathName {
			adminError(ctx, 400, fmt.Sprintf("the record's name %q differs from the path's %q", *r.Name, pathName))
			return
		}
		if name == "" || r.Content == nil {
			adminError(ctx, 400, fmt.Sprintf("record %d: name and content are required", i+1))
			return
		}
		sc := Script{Name: name}
		if err := r.apply(&sc); err != nil {
			adminError(ctx, 400, fmt.Sprintf("record %d: %v", i+1, err))
			return
		}
		scripts = append(scripts, sc)
	}
	m.adminSave(ctx, 201, scripts)
}

func (m *Middleware) adminPatch(ctx *fasthttp.RequestCtx, name string) {
	m.adminMu.Lock() // a change is read, made and written whole: two admins never interleave
	defer m.adminMu.Unlock()
	records, err := decodeRecords(ctx.Request.Body())
	if err != nil || len(records) != 1 {
		if err == nil {
			err = errors.New("PATCH takes one record")
		}
		adminError(ctx, 400, err.Error())
		return
	}
	if !m.adminPatchBase(ctx) { // with Config.ScriptSource: read its latest set first
		return
	}
	sc, found := m.Script(name)
	if !found {
		adminError(ctx, 404, "no script "+name)
		return
	}
	r := records[0]
	if r.Name != nil && *r.Name != sc.Name {
		adminError(ctx, 400, "a script is renamed by creating the new name and deleting the old one")
		return
	}
	if r.Content != nil {
		sc.Source = *r.Content
	} else {
		sc.Source = StripDirectives(sc.Source)
	}
	if err := r.apply(&sc); err != nil {
		adminError(ctx, 400, err.Error())
		return
	}
	m.adminSave(ctx, 200, []Script{sc})
}

// adminSave compiles and installs scripts, writing them to Config.ScriptDir first when there
// is one. It is all or nothing: unless every script compiles and every file is written,
// neither the files nor the running scripts change.
func (m *Middleware) adminSave(ctx *fasthttp.RequestCtx, status int, scripts []Script) {
	if m.source != nil {
		m.adminSaveShared(ctx, status, scripts)
		return
	}
	prepared := make([]*script, 0, len(scripts))
	seen := map[string]bool{}
	var msgs []string
	for _, sc := range scripts {
		if dir := m.cfg.ScriptDir; dir != "" {
			if pat, err := parsePattern(sc.Name); err == nil {
				if err := nameFitsFile(pat.text); err != nil {
					msgs = append(msgs, err.Error())
					continue
				}
				sc.Name = pat.text
				sc.File = filepath.Join(dir, pat.text+".lua")
			}
			// Compile what the file will hold, so that line numbers are the file's.
			sc.Source = string(FormatScriptFile(sc))
		}
		s, err := m.prepare(sc)
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		if seen[s.Name] {
			msgs = append(msgs, "the script "+s.Name+" is given twice")
			continue
		}
		seen[s.Name] = true
		prepared = append(prepared, s)
	}
	if len(msgs) > 0 {
		adminError(ctx, 400, strings.Join(msgs, "; "))
		return
	}
	if dw := m.watcher; dw != nil {
		dw.mu.Lock() // the watcher reads the directory before or after the change, not during it
		defer dw.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		adminError(ctx, 503, ErrClosed.Error())
		return
	}
	cur := m.routes.Load().byName
	if dir := m.cfg.ScriptDir; dir != "" {
		tx := fileTx{dir: filepath.Clean(dir)}
		for _, s := range prepared {
			tx.put(s.File, FormatScriptFile(s.Script))
			// An older file under another spelling of the same pattern goes.
			if old := cur[s.Name]; old != nil && old.File != "" && old.File != s.File && filepath.Dir(old.File) == filepath.Clean(dir) {
				tx.remove(old.File)
			}
		}
		if err := tx.apply(); err != nil {
			m.logger.Error("fastlua: an admin API change failed: "+err.Error(), slog.Int("scripts", len(prepared)))
			adminError(ctx, 500, err.Error())
			return
		}
	}
	m.update(prepared, nil)
	out := make([]adminOut, len(prepared))
	for i, s := range prepared {
		out[i] = recordOf(s.Script)
		m.logger.Info("fastlua: script saved through the admin API", slog.String("script", s.Name))
	}
	if len(out) == 1 {
		adminJSON(ctx, status, out[0])
		return
	}
	adminJSON(ctx, status, map[string]any{"resource": out})
}

func (m *Middleware) adminDelete(ctx *fasthttp.RequestCtx, name string) {
	m.adminMu.Lock() // a change is read, made and written whole: two admins never interleave
	defer m.adminMu.Unlock()
	if m.source != nil {
		m.adminDeleteShared(ctx, name)
		return
	}
	if dw := m.watcher; dw != nil {
		dw.mu.Lock()
		defer dw.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if pat, err := parsePattern(name); err == nil {
		name = pat.text
	}
	s := m.routes.Load().byName[name]
	if s == nil {
		adminError(ctx, 404, "no script "+name)
		return
	}
	if dir := m.cfg.ScriptDir; dir != "" && s.File != "" && filepath.Dir(s.File) == filepath.Clean(dir) {
		if err := os.Remove(s.File); err != nil && !errors.Is(err, os.ErrNotExist) {
			adminError(ctx, 500, "removing "+s.File+": "+err.Error())
			return
		}
	}
	m.update(nil, []string{name})
	m.logger.Info("fastlua: script deleted through the admin API", slog.String("script", name))
	adminJSON(ctx, 200, map[string]string{"name": name})
}
