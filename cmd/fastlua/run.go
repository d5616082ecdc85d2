package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluatest"
	"github.com/valyala/fasthttp"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func cmdRun(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("run", "run DIR [-X METHOD] [-H 'Name: value']... [-d BODY | -d @file] [-prefix P] [-config JSON] [-session JSON] [-upstream URL] PATH",
		`Run sends one request for PATH through the scripts of DIR (pre_process, the handler,
post_process, then the queued scripts) and prints which scripts ran, in order, with each one's
outcome, duration and log lines; the request as the handler saw it; and the final response.
The handler is a built-in one that answers 200 with JSON describing what it received, or
the -upstream server.`, stderr)
	method := fs.String("X", "", "the request method (default GET, or POST with -d)")
	var headers headerFlags
	fs.Var(&headers, "H", "a request header, 'Name: value' (repeatable)")
	data := fs.String("d", "", "the request body, or @file to read it from a file")
	prefix := fs.String("prefix", "/", "the middleware's Config.Prefix")
	upstream := fs.String("upstream", "", "send the request on to this server (http://host:port) instead of the built-in handler")
	config := fs.String("config", "", "platform.config as JSON, or @file to read it from a file")
	session := fs.String("session", "", "platform.session as JSON, or @file to read it from a file")
	var allow headerFlags
	fs.Var(&allow, "allow-host", "a host platform.api may call with an absolute URL (repeatable; Config.AllowedHosts)")
	pos, err := parse(fs, args, stdout)
	if err != nil {
		return 0, err
	}
	if len(pos) != 2 {
		fs.Usage()
		return 0, errUsage
	}
	dir, path := pos[0], pos[1]
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	body := []byte(*data)
	if f, ok := strings.CutPrefix(*data, "@"); ok {
		if body, err = os.ReadFile(f); err != nil {
			return 0, err
		}
	}
	if *method == "" {
		*method = "GET"
		if *data != "" {
			*method = "POST"
		}
	}

	var platformConfig, sessionValue any
	for _, v := range []struct {
		name, text string
		dst        *any
	}{{"-config", *config, &platformConfig}, {"-session", *session, &sessionValue}} {
		if v.text == "" {
			continue
		}
		text := []byte(v.text)
		if f, ok := strings.CutPrefix(v.text, "@"); ok {
			if text, err = os.ReadFile(f); err != nil {
				return 0, err
			}
		}
		if err := json.Unmarshal(text, v.dst); err != nil {
			return 0, fmt.Errorf("%s: not JSON: %w", v.name, err)
		}
	}
	scripts, err := fastlua.LoadScripts(os.DirFS(dir), ".")
	for i := range scripts {
		scripts[i].File = filepath.Join(dir, scripts[i].File)
	}
	if err != nil {
		return 0, fmt.Errorf("the scripts of %s do not load (run fastlua check %s):\n%w", dir, dir, err)
	}
	rec := &recorder{}
	token := rand.Text()
	var next fasthttp.RequestHandler = fastluatest.Echo
	if *upstream != "" {
		if next, err = proxy(*upstream); err != nil {
			return 0, err
		}
	}
	cfg := fastlua.Config{Prefix: *prefix, Scripts: scripts, DebugToken: token, PlatformConfig: platformConfig,
		Logger: slog.New(rec), TimeLimit: 10 * time.Second, AllowedHosts: allow}
	if *session != "" {
		cfg.Session = func(*fasthttp.RequestCtx) any { return sessionValue }
	}
	m, err := fastlua.New(cfg)
	if err != nil {
		return 0, err
	}
	var seen struct {
		sync.Mutex
		req *fasthttp.Request
	}
	handler := m.Wrap(func(ctx *fasthttp.RequestCtx) {
		seen.Lock()
		if seen.req == nil { // the first: later ones are platform.api calls
			seen.req = &fasthttp.Request{}
			ctx.Request.CopyTo(seen.req)
		}
		seen.Unlock()
		next(ctx)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &fasthttp.Server{Handler: handler, NoDefaultServerHeader: true}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()

	req, resp := &fasthttp.Request{}, &fasthttp.Response{}
	req.Header.SetMethod(strings.ToUpper(*method))
	req.SetRequestURI(path)
	req.Header.SetHost(ln.Addr().String())
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return 0, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if len(body) > 0 {
		req.SetBody(body)
		if len(req.Header.ContentType()) == 0 || string(req.Header.ContentType()) == "application/octet-stream" {
			if json.Valid(body) {
				req.Header.SetContentType("application/json")
			} else {
				req.Header.SetContentType("application/x-www-form-urlencoded")
			}
		}
	}
	req.Header.Set(fastlua.DebugHeader, token)
	hc := &fasthttp.HostClient{Addr: ln.Addr().String(), DisablePathNormalizing: true, ReadTimeout: time.Minute, NoDefaultUserAgentHeader: true}
	if err := hc.Do(req, resp); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	closeErr := m.Close(ctx) // runs the queued scripts

	w := stdout
	fmt.Fprintf(w, "%s %s\n\n", req.Header.Method(), path)
	fmt.Fprintln(w, "Scripts:")
	runs := rec.runs()
	if len(runs) == 0 {
		fmt.Fprintln(w, "  (none matched)")
	}
	for i, r := range runs {
		fmt.Fprintf(w, "  %d. %-13s %s: %s (%s)\n", i+1, r.phase, r.script, r.outcome, r.dur)
		for _, l := range r.logs {
			fmt.Fprintf(w, "       %s\n", l)
		}
	}
	fmt.Fprintln(w, "\nThe handler received:")
	if seen.req == nil {
		fmt.Fprintln(w, "  nothing: a script answered (or failed) before it")
	} else {
		writeIndented(w, seen.req.Header.String()+string(seen.req.Body()))
	}
	resp.Header.Del(fastlua.TraceHeader)
	fmt.Fprintln(w, "\nThe response:")
	writeIndented(w, resp.Header.String()+string(resp.Body()))
	if closeErr != nil {
		fmt.Fprintln(w, "\n", closeErr)
	}
	return 0, nil
}

func writeIndented(w io.Writer, s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// proxy is a handler that sends requests on to the server at rawURL.
func proxy(rawURL string) (fasthttp.RequestHandler, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-upstream %q: want http://host:port", rawURL)
	}
	hc := &fasthttp.HostClient{Addr: fasthttp.AddMissingPort(u.Host, u.Scheme == "https"), IsTLS: u.Scheme == "https",
		DisablePathNormalizing: true, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	return func(ctx *fasthttp.RequestCtx) {
		req := &fasthttp.Request{}
		ctx.Request.CopyTo(req)
		req.Header.SetHost(u.Host)
		if err := hc.Do(req, &ctx.Response); err != nil {
			fastlua.WriteError(&ctx.Response, 502, "the upstream failed: "+err.Error())
		}
	}, nil
}

// recorder is the middleware's log: it pairs the scripts' log lines with their runs (the
// debug trace logs each run, after the lines it wrote).
type recorder struct {
	mu      sync.Mutex
	done    []scriptRun
	pending map[string][]string // script → lines since its last run ended
}

type scriptRun struct {
	script, phase, outcome string
	dur                    time.Duration
	logs                   []string
}

func (r *recorder) runs() []scriptRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.done)
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var script, event, outcome string
	var dur time.Duration
	var fields []string
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "script":
			script = a.Value.String()
		case "event":
			event = a.Value.String()
		case "outcome":
			outcome = a.Value.String()
		case "duration":
			dur = a.Value.Duration()
		case "traceback", "method", "path", "client", "request_id": // the request is printed above
		default:
			fields = append(fields, a.Key+"="+a.Value.String())
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[string][]string{}
	}
	if rec.Message == "fastlua: script ran" {
		phase := event[strings.LastIndexByte(event, '.')+1:]
		r.done = append(r.done, scriptRun{script: script, phase: phase, outcome: outcome, dur: dur, logs: r.pending[script]})
		delete(r.pending, script)
		return nil
	}
	line := strings.ToLower(rec.Level.String()) + " " + strings.TrimPrefix(rec.Message, "fastlua: ")
	if len(fields) > 0 {
		line += " " + strings.Join(fields, " ")
	}
	if strings.Contains(rec.Message, "script failed") && script != "" {
		for i := len(r.done) - 1; i >= 0; i-- { // the error of the run that just ended
			if r.done[i].script == script {
				r.done[i].logs = append(r.done[i].logs, line)
				return nil
			}
		}
	}
	if script == "" {
		r.done = append(r.done, scriptRun{phase: "-", script: "fastlua", outcome: line})
		return nil
	}
	r.pending[script] = append(r.pending[script], line)
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
