// Command edge is an edge service built around fastlua, configured from its environment: a
// small orders API whose scripts are embedded in the binary (./scripts, embed.FS), with
// Prometheus metrics at /metrics, OpenTelemetry traces when EDGE_OTLP_URL is set, platform.store
// and queued events on Redis when EDGE_REDIS_URL is set, script failures counted and logged by
// its own Config.OnError hook, and a graceful stop on SIGTERM (or SIGINT): the server stops
// taking requests, Close runs the queued events accepted so far within EDGE_SHUTDOWN_TIMEOUT,
// the last spans are flushed. See README.md for the variables.
//
//	EDGE_LISTEN=127.0.0.1:8082 go run ./examples/edge
//
// It prints "listening on ADDR" once it serves, and exits 1 when Close could not run every
// queued event in time.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluaotel/otlphttp"
	"github.com/fastlua/fastlua/fastluaprom"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

//go:embed scripts/*.lua
var embedded embed.FS

func main() {
	if err := run(os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "edge:", err)
		os.Exit(1)
	}
}

// settings are what the environment configures.
type settings struct {
	listen, prefix  string
	redisURL        string // "": platform.store and the queue in process
	otlpURL         string // "": no traces
	auditURL        string // "": the queued audit is only logged
	shutdownTimeout time.Duration
	logLevel        slog.Level
	allowedHosts    []string
}

// readSettings reads the EDGE_* variables; a bad value is an error naming the variable.
func readSettings(getenv func(string) string) (settings, error) {
	s := settings{listen: "127.0.0.1:8082", prefix: "/api", shutdownTimeout: 10 * time.Second}
	if v := getenv("EDGE_LISTEN"); v != "" {
		s.listen = v
	}
	if v := getenv("EDGE_PREFIX"); v != "" {
		s.prefix = v
	}
	s.redisURL, s.otlpURL, s.auditURL = getenv("EDGE_REDIS_URL"), getenv("EDGE_OTLP_URL"), getenv("EDGE_AUDIT_URL")
	if v := getenv("EDGE_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("EDGE_SHUTDOWN_TIMEOUT=%q is not a positive duration such as 10s", v)
		}
		s.shutdownTimeout = d
	}
	if v := getenv("EDGE_LOG_LEVEL"); v != "" {
		if err := s.logLevel.UnmarshalText([]byte(v)); err != nil {
			return s, fmt.Errorf("EDGE_LOG_LEVEL=%q is not debug, info, warn or error", v)
		}
	}
	if s.auditURL != "" {
		u, err := url.Parse(s.auditURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return s, fmt.Errorf("EDGE_AUDIT_URL=%q is not an http:// or https:// URL", s.auditURL)
		}
		s.allowedHosts = []string{u.Host}
	}
	return s, nil
}

// failures is the service's Config.OnError hook: every script failure is counted by kind and
// logged with the script, event and request id.
type failures struct {
	logger  *slog.Logger
	counter *prometheus.CounterVec
}

func (f *failures) hook(ctx *fasthttp.RequestCtx, err *fastlua.ScriptError) {
	f.counter.WithLabelValues(err.Kind.String()).Inc()
	f.logger.Warn("edge: script failure", "kind", err.Kind.String(), "script", err.Script, "event", err.Event,
		"status", err.Status, "fail_open", err.FailOpen, "request_id", err.RequestID, "message", err.Message)
}

func run(getenv func(string) string, stdout, stderr io.Writer) error {
	s, err := readSettings(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: s.logLevel}))
	reg := prometheus.NewRegistry()
	fails := &failures{logger: logger, counter: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edge_script_failures_total", Help: "Script failures seen by the edge's OnError hook, by kind.",
	}, []string{"kind"})}
	reg.MustRegister(fails.counter)

	scripts, err := fs.Sub(embedded, "scripts")
	if err != nil {
		return err
	}
	cfg := fastlua.Config{
		Prefix:         s.prefix,
		ScriptFS:       scripts,
		Logger:         logger,
		OnError:        fails.hook,
		AllowedHosts:   s.allowedHosts,
		PlatformConfig: map[string]any{"audit_url": s.auditURL},
	}
	if s.otlpURL != "" {
		tracer, shutdown, err := otlphttp.New(s.otlpURL, "fastlua-edge")
		if err != nil {
			return fmt.Errorf("EDGE_OTLP_URL=%w", err)
		}
		defer func() { // after Close: the queued scripts' spans are flushed too
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				logger.Warn("edge: the last spans could not be exported", "otlp", s.otlpURL, "error", err)
			}
		}()
		cfg.Tracer = tracer
	}
	if s.redisURL != "" {
		opts, err := redis.ParseURL(s.redisURL)
		if err != nil {
			return fmt.Errorf("EDGE_REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		cfg.Store = redisstore.NewStore(rdb, "edge:store:")
		cfg.QueueBackend = redisstore.NewQueue(rdb, redisstore.QueueConfig{})
	}
	mw, err := fastlua.New(cfg)
	if err != nil {
		return err
	}
	reg.MustRegister(fastluaprom.NewCollector(mw), fastluaprom.NewScriptMetrics(mw))
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	api := newOrders(s.prefix)
	if cfg.QueueBackend != nil {
		if err := mw.Consume(api.handle); err != nil {
			return err
		}
	}
	scripted := mw.Wrap(api.handle)
	handler := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/metrics" {
			metrics(ctx)
			return
		}
		scripted(ctx)
	}

	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{Handler: handler, Name: "fastlua-edge", ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	logger.Info("edge: started", "listen", ln.Addr().String(), "prefix", s.prefix, "scripts", len(mw.Scripts()),
		"redis", s.redisURL != "", "otlp", s.otlpURL != "")

	sig, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var serveErr error
	select {
	case <-sig.Done():
	case serveErr = <-served:
	}
	logger.Info("edge: shutting down", "deadline", s.shutdownTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	if err := srv.ShutdownWithContext(ctx); err != nil { // no new requests; the ones in flight end
		serveErr = errors.Join(serveErr, err)
	}
	logger.Info("edge: server stopped, draining queued work", "queued_waiting", mw.Stats().Queue.Depth)
	closeErr := mw.Close(ctx) // then the queued events accepted so far run, until the deadline
	if closeErr == nil {
		q := mw.Stats().Queue
		logger.Info("edge: stopped, queued work drained", "queued_done", q.Done, "queued_failed", q.Failed, "queued_dropped", q.Dropped,
			"queued_published", q.Published, "queued_delivered", q.Delivered)
	}
	return errors.Join(serveErr, closeErr)
}

// orders is the service's own API behind the scripts: orders kept in memory.
type orders struct {
	prefix string
	mu     sync.Mutex
	next   int
	items  map[int]string
}

func newOrders(prefix string) *orders {
	return &orders{prefix: "/" + strings.Trim(prefix, "/") + "/orders", items: map[int]string{}}
}

// handle serves GET PREFIX/orders/{id} and POST PREFIX/orders {"item": ...}.
func (o *orders) handle(ctx *fasthttp.RequestCtx) {
	rest, ok := strings.CutPrefix(string(ctx.Path()), o.prefix)
	ctx.SetContentType("application/json")
	switch {
	case ok && rest == "" && ctx.IsPost():
		var in struct {
			Item string `json:"item"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || in.Item == "" {
			fastlua.WriteError(&ctx.Response, 400, "the body must be {\"item\": \"...\"}")
			return
		}
		o.mu.Lock()
		o.next++
		id := o.next
		o.items[id] = in.Item
		o.mu.Unlock()
		ctx.SetStatusCode(201)
		b, _ := json.Marshal(map[string]any{"id": id, "item": in.Item})
		ctx.SetBody(b)
	case ok && strings.HasPrefix(rest, "/") && ctx.IsGet():
		id, err := strconv.Atoi(rest[1:])
		o.mu.Lock()
		item, found := o.items[id]
		o.mu.Unlock()
		if err != nil || !found {
			fastlua.WriteError(&ctx.Response, 404, "no such order")
			return
		}
		b, _ := json.Marshal(map[string]any{"id": id, "item": item})
		ctx.SetBody(b)
	default:
		fastlua.WriteError(&ctx.Response, 404, "not found")
	}
}
