// Command gateway is a reverse proxy that puts event scripts in front of any HTTP API.
//
//	go run ./examples/gateway -upstream http://127.0.0.1:9000 -scripts ./scripts -prefix /api
//
// Requests below -prefix run the scripts of -scripts (a directory, watched for changes) around
// the upstream call; everything else is passed through. With -admin-token the admin API is at
// /_fastlua/event_script; Prometheus metrics are at /metrics. With -redis URL, platform.store and
// queued events are shared through Redis with the other instances given the same URL; with
// -share-scripts too, so are the scripts: the admin API writes to Redis, every instance follows
// it, and -scripts DIR is the instance's last-known-good copy (served when it starts while
// Redis is down; on the first start against an empty Redis its files seed the shared set).
// platform.session holds the request's API key and session token (-api-key-header,
// -session-token-header); with -session-url URL (DreamFactory's /api/v2/user/session, answers
// cached for -session-ttl) or -jwt-key FILE (an HMAC secret or a PEM public key; -jwt-role-claim,
// -jwt-issuer, -jwt-audience), also the user and role of that token. With -otlp URL (an
// OTLP/HTTP collector, http://collector:4318), a span per request, phase and script run is
// exported (fastluaotel), parented on the client's W3C traceparent, and the upstream call carries
// the request's span. It prints "listening on ADDR" once it serves.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluaotel"
	"github.com/fastlua/fastlua/fastluaotel/otlphttp"
	"github.com/fastlua/fastlua/fastluaprom"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed, and asking for it is not an error
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	listen, upstream, scripts, prefix, adminToken string
	debugToken                                    string
	timeout, timeLimit, maxTimeLimit, poolTimeout time.Duration
	maxStates                                     int
	memoryLimit                                   int64
	redisURL                                      string
	shareScripts                                  bool
	scriptResync                                  time.Duration
	claimIdle                                     time.Duration
	otlpURL                                       string
	session                                       *sessionOptions
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to listen on")
	fs.StringVar(&o.upstream, "upstream", "", "the API to proxy to, as http://host:port[/base] (required)")
	fs.StringVar(&o.scripts, "scripts", "", "directory of <pattern>.lua scripts, watched for changes")
	fs.StringVar(&o.prefix, "prefix", "/", "path prefix below which requests are events")
	fs.StringVar(&o.adminToken, "admin-token", "", "token for the admin API at /_fastlua/event_script (off when empty)")
	fs.StringVar(&o.debugToken, "debug-token", "", "a request with this X-Fastlua-Debug header gets an X-Fastlua-Trace of its script runs (off when empty)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of an upstream request")
	fs.DurationVar(&o.timeLimit, "time-limit", time.Second, "time limit of a script run")
	fs.DurationVar(&o.maxTimeLimit, "max-time-limit", 30*time.Second, "the longest time limit a script may set for itself (time_limit); longer ones, and none, are refused")
	fs.IntVar(&o.maxStates, "max-states", 64, "Lua states (scripts running at once)")
	fs.DurationVar(&o.poolTimeout, "pool-timeout", time.Second, "how long a request waits for a free Lua state before it is answered with 503")
	fs.Int64Var(&o.memoryLimit, "memory-limit", 1<<30, "stop long scripts when the live heap passes this many bytes (0: off)")
	fs.StringVar(&o.redisURL, "redis", "", "redis://host:port/db: share platform.store and queued events with other instances")
	fs.DurationVar(&o.claimIdle, "redis-claim-idle", 30*time.Second, "with -redis: how long the queued events of an instance that stopped wait before another instance claims them")
	fs.BoolVar(&o.shareScripts, "share-scripts", false, "with -redis: keep the scripts on Redis, shared with the other instances (-scripts is then this instance's last-known-good copy, and seeds an empty Redis)")
	fs.DurationVar(&o.scriptResync, "script-resync", 30*time.Second, "with -share-scripts: how often the whole shared set is read, whatever was announced")
	fs.StringVar(&o.otlpURL, "otlp", "", "OTLP/HTTP collector URL (http://host:4318; the path defaults to /v1/traces): export a span per request, phase and script run (off when empty)")
	o.session = addSessionFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.upstream == "" {
		return o, errors.New("-upstream is required")
	}
	if o.shareScripts && o.redisURL == "" {
		return o, errors.New("-share-scripts needs -redis URL")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	proxy, err := newProxy(o.upstream, o.timeout)
	if err != nil {
		return err
	}
	cfg := fastlua.Config{
		Prefix:       o.prefix,
		ScriptDir:    o.scripts,
		AdminToken:   o.adminToken,
		DebugToken:   o.debugToken,
		TimeLimit:    o.timeLimit,
		MaxTimeLimit: o.maxTimeLimit,
		MaxStates:    o.maxStates,
		PoolTimeout:  o.poolTimeout,
		MemoryLimit:  o.memoryLimit,
		Logger:       logger,
	}
	if o.otlpURL != "" {
		tracer, shutdown, err := otlphttp.New(o.otlpURL, "fastlua-gateway")
		if err != nil {
			return fmt.Errorf("-otlp %w", err)
		}
		defer func() { // after Close: the queued scripts' spans are flushed too
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				logger.Warn("the last spans could not be exported", "otlp", o.otlpURL, "error", err)
			}
		}()
		cfg.Tracer, proxy.tracer = tracer, tracer
	}
	sessions, err := o.session.builder(logger)
	if err != nil {
		return err
	}
	cfg.Session = sessions.Hook
	if o.redisURL != "" {
		opts, err := redis.ParseURL(o.redisURL)
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		opts.ContextTimeoutEnabled = true // a store call or Publish ends at its deadline (redisstore's "Deadlines")
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		reachable := true
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			reachable = false
			logger.Warn("redis is not reachable now: store calls fail and queued events run here until it is", "error", err)
		}
		cfg.Store = redisstore.NewStore(rdb, "fastlua:store:")
		cfg.QueueBackend = redisstore.NewQueue(rdb, redisstore.QueueConfig{ClaimIdle: o.claimIdle})
		if o.shareScripts {
			src := redisstore.NewScriptSource(rdb, redisstore.ScriptSourceConfig{})
			if o.scripts != "" {
				if err := os.MkdirAll(o.scripts, 0o755); err != nil {
					return fmt.Errorf("-scripts: %w", err)
				}
				if reachable {
					seedScripts(src, o.scripts, logger)
				}
			}
			cfg.ScriptSource, cfg.ScriptResync = src, o.scriptResync
		}
	}
	mw, err := fastlua.New(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(fastluaprom.NewCollector(mw), newSessionCollector(sessions), collectors.NewGoCollector())
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	admin := mw.AdminHandler()
	scripted := mw.Wrap(proxy.handle)
	if cfg.QueueBackend != nil {
		// Run the queued events any instance published; their platform.api calls reach the
		// upstream as requests do.
		if err := mw.Consume(proxy.handle); err != nil {
			return err
		}
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		switch p := string(ctx.Path()); {
		case p == "/metrics":
			metrics(ctx)
		case o.adminToken != "" && strings.HasPrefix(p, "/_fastlua/event_script"):
			admin(ctx)
		default:
			scripted(ctx)
		}
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{Handler: handler, Name: "fastlua-gateway", ReadTimeout: o.timeout, WriteTimeout: o.timeout}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown()
	}()
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	logger.Info("gateway started", "listen", ln.Addr().String(), "upstream", o.upstream, "scripts", o.scripts, "scripts_loaded", len(mw.Scripts()))
	serveErr := srv.Serve(ln)
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closeErr := mw.Close(closeCtx)
	logSessionStats(logger, sessions)
	return errors.Join(serveErr, closeErr)
}

// seedScripts writes the scripts of dir to an empty shared set (one that was never written), as
// one change conditional on that: of several instances started at once, one seeds it.
func seedScripts(src *redisstore.ScriptSource, dir string, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	set, err := src.Load(ctx)
	if err != nil {
		logger.Warn("the shared scripts cannot be read now: this instance serves its last-known-good copy until they can", "dir", dir, "error", err)
		return
	}
	if set.Version != 0 || len(set.Scripts) != 0 {
		return
	}
	scripts, err := fastlua.LoadScripts(os.DirFS(dir), ".")
	if err != nil || len(scripts) == 0 {
		return // fastlua.New reports the files' errors
	}
	for i := range scripts {
		scripts[i].Source, scripts[i].File = fastlua.StripDirectives(scripts[i].Source), ""
	}
	zero := uint64(0)
	v, err := src.Apply(ctx, fastlua.ScriptChange{Put: scripts, IfVersion: &zero})
	switch {
	case errors.Is(err, fastlua.ErrSourceConflict):
		logger.Info("another instance seeded the shared scripts first", "dir", dir)
	case err != nil:
		logger.Warn("seeding the shared scripts failed", "dir", dir, "error", err)
	default:
		logger.Info("seeded the shared scripts from the script directory", "dir", dir, "scripts", len(scripts), "version", v)
	}
}

// proxy forwards requests to the upstream.
type proxy struct {
	client  *fasthttp.HostClient
	base    string // the upstream URL's path (decoded), prefixed to every request's
	host    string
	tls     bool
	timeout time.Duration
	tracer  *fastluaotel.Tracer // -otlp: the upstream request carries the request's span
}

func newProxy(upstream string, timeout time.Duration) (*proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-upstream %q is not an http:// or https:// URL", upstream)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	return &proxy{
		// DisablePathNormalizing: the client sends the path handle encodes, byte for byte (it
		// would otherwise normalize it again and quote it by net/url's rules, leaving ";" and
		// "+" raw; the request's own URI flag is overwritten by the client's).
		client: &fasthttp.HostClient{Addr: addr, IsTLS: u.Scheme == "https", ReadTimeout: timeout, WriteTimeout: timeout,
			NoDefaultUserAgentHeader: true, DisablePathNormalizing: true},
		base: strings.TrimSuffix(u.Path, "/"), host: u.Host, tls: u.Scheme == "https", timeout: timeout,
	}, nil
}

// Hop-by-hop headers are not forwarded (RFC 9110, 7.6.1), nor the method-override headers
// some frameworks honour (DreamFactory, Express, Symfony, Laravel): the scripts ran for the
// request's method, so the upstream must not act on another.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"X-HTTP-Method", "X-HTTP-Method-Override", "X-Method-Override"}

// unforwardable says why a decoded path cannot be forwarded as the path the scripts matched,
// or "" when it can.
func unforwardable(path []byte) string {
	switch {
	case bytes.IndexByte(path, '\\') >= 0:
		return "the path holds a backslash (raw or encoded), which upstreams read differently"
	case bytes.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "the path holds a control character (raw or encoded)"
	case !utf8.Valid(path):
		return "the path is not valid UTF-8 once decoded"
	}
	return ""
}

func (p *proxy) handle(ctx *fasthttp.RequestCtx) {
	// Upstreams disagree on whether a backslash separates segments (one on Windows resolves
	// "x\..\admin" to "admin"), so a path holding one cannot be forwarded as the path the
	// scripts matched.
	// Control bytes and invalid UTF-8 likewise (a NUL ends the path for some, overlong forms
	// decode to "." for others).
	if msg := unforwardable(ctx.Path()); msg != "" {
		fastlua.WriteError(&ctx.Response, fasthttp.StatusBadRequest, msg)
		return
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ctx.Request.CopyTo(req)
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	if p.tracer != nil {
		if span := fastlua.MatchOf(ctx).Span(); span != nil {
			p.tracer.Inject(span, &req.Header) // a child of the request's span, not of the client's
		}
	}
	// The upstream decodes the path once into exactly the path the scripts matched
	// (fastlua.AppendPath: a client's %252e%252e stays the text %2e%2e, never ".."), and gets
	// the parameters as the scripts left them, encoded from what they read (so a ";" or a
	// stray "%" cannot be read differently upstream).
	u := req.URI()
	u.DisablePathNormalizing = true // send the path as encoded here
	u.SetPathBytes(fastlua.AppendPath(fastlua.AppendPath(nil, []byte(p.base)), ctx.Path()))
	u.SetQueryStringBytes(ctx.QueryArgs().QueryString())
	u.SetScheme(map[bool]string{true: "https", false: "http"}[p.tls])
	u.SetHost(p.host)
	req.Header.SetHost(p.host)
	// One X-Forwarded-For line with every hop a client sent, in order, then this client: Set
	// alone would replace only the first of several lines, and an upstream reading the last hop
	// would read one the client wrote.
	if ip, _, err := net.SplitHostPort(ctx.RemoteAddr().String()); err == nil {
		hops := make([]string, 0, 2)
		for _, v := range req.Header.PeekAll("X-Forwarded-For") {
			hops = append(hops, string(v))
		}
		req.Header.Del("X-Forwarded-For")
		req.Header.Set("X-Forwarded-For", strings.Join(append(hops, ip), ", "))
	}
	req.Header.Del("X-Forwarded-Host")
	req.Header.Set("X-Forwarded-Host", string(ctx.Host()))
	// An in-process platform.api call has its script's deadline: the script fails once it has
	// passed, so the upstream call stops by then and frees the script's Lua state.
	timeout := p.timeout
	if d, ok := fastlua.Deadline(ctx); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := p.client.DoTimeout(req, resp, timeout); err != nil {
		status := fasthttp.StatusBadGateway
		if errors.Is(err, fasthttp.ErrTimeout) {
			status = fasthttp.StatusGatewayTimeout
		}
		fastlua.WriteError(&ctx.Response, status, "upstream: "+err.Error())
		return
	}
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	// Headers the pre_process scripts set on the response (rate-limit counters, request ids)
	// are kept over the upstream's answer; the upstream's framing headers win.
	var kept [][2]string
	for k, v := range ctx.Response.Header.All() {
		switch key := string(k); {
		case strings.EqualFold(key, "Content-Length"), strings.EqualFold(key, "Content-Type"),
			strings.EqualFold(key, "Content-Encoding"), strings.EqualFold(key, "Server"), strings.EqualFold(key, "Date"):
		default:
			kept = append(kept, [2]string{key, string(v)})
		}
	}
	resp.CopyTo(&ctx.Response)
	for _, h := range kept {
		if strings.EqualFold(h[0], "Set-Cookie") {
			ctx.Response.Header.Add(h[0], h[1])
		} else {
			ctx.Response.Header.Set(h[0], h[1])
		}
	}
}
