package fastlua

import (
	"context"
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

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// The front door: New builds a Middleware from a Config, Wrap puts it around a handler, Consume
// starts a queue backend's consumers, Close drains and stops.

// Middleware runs event scripts around fasthttp handlers. It is safe for concurrent use;
// scripts can be changed while requests run.
type Middleware struct {
	cfg        Config
	prefix     []byte
	debugToken []byte // Config.DebugToken
	logger     *slog.Logger
	fhLogger   fasthttpLogger
	compiler   *compiler
	pool       statePool
	watchdog   *watchdog
	queue      *queue
	store      Store
	httpClient *fasthttp.Client
	proxies    *bridge.Proxies // Config.TrustedProxies
	routes     atomic.Pointer[routes]
	stats      counters
	metrics    scriptMetrics // the metrics module's (metricsmodule.go)

	closing atomic.Bool    // Close has begun: new requests that match scripts get 503
	active  shardedCounter // requests between the closing check and their end, by exchange shard
	watcher *dirWatcher
	source  *sourceSync // Config.ScriptSource

	adminMu   sync.Mutex // serializes admin API changes, from reading the script to installing it
	mu        sync.Mutex // serializes changes to the scripts
	closed    bool
	nextSlot  int
	freeSlots []int
}

type counters struct {
	statesCreated atomic.Uint64
}

// New makes a Middleware and installs Config.Scripts. It fails if a script's pattern is invalid
// or its source does not compile.
func New(cfg Config) (*Middleware, error) {
	lowerMaxArrayIndex.Do(func() { lua.MaxArrayIndex = maxArrayIndex })
	cfg = cfg.withDefaults()
	if cfg.ScriptSource != nil && (len(cfg.Scripts) > 0 || cfg.ScriptFS != nil) {
		return nil, errors.New("fastlua: Config.ScriptSource holds the scripts: Config.Scripts and Config.ScriptFS cannot be combined with it")
	}
	if err := tableLike(cfg.PlatformConfig); err != nil {
		return nil, fmt.Errorf("fastlua: Config.PlatformConfig is read by scripts as the table platform.config: it must be nil, a map, a struct, a slice or a pointer to one; it is %v", err)
	}
	if err := durationBuckets(cfg.DurationBuckets); err != nil {
		return nil, err
	}
	proxies, err := bridge.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	m := &Middleware{
		proxies:    proxies,
		cfg:        cfg,
		prefix:     normalizePrefix(cfg.Prefix),
		debugToken: []byte(cfg.DebugToken),
		logger:     cfg.Logger,
		fhLogger:   fasthttpLogger{cfg.Logger},
		compiler:   newCompiler(cfg.CompileCacheSize, cfg.MaxScriptSize),
		watchdog:   newWatchdog(uint64(max(cfg.MemoryLimit, 0))),
		store:      cfg.Store,
		httpClient: cfg.HTTPClient,
	}
	m.pool = newStatePool(m, cfg.MaxStates)
	m.active = newShardedCounter()
	m.routes.Store(newRoutes(m.prefix, map[string]*script{}))
	scripts := slices.Clone(cfg.Scripts)
	var errs []error
	if cfg.ScriptFS != nil {
		list, err := m.loadFS(cfg.ScriptFS, "Config.ScriptFS")
		errs = append(errs, err)
		scripts = append(scripts, list...)
	}
	if cfg.ScriptDir != "" {
		list, err := m.loadFS(os.DirFS(cfg.ScriptDir), cfg.ScriptDir)
		errs = append(errs, err)
		for i := range list {
			list[i].File = filepath.Join(cfg.ScriptDir, list[i].File)
		}
		scripts = append(scripts, list...)
	}
	if len(scripts) > 0 {
		// Compiled even when some files could not be read, so that every problem is reported at once.
		errs = append(errs, m.Set(scripts...))
	}
	if err := joinScriptErrors(errs); err != nil && cfg.ScriptSource == nil {
		m.watchdog.close()
		return nil, err
	} else if cfg.ScriptSource != nil {
		// ScriptDir is its last-known-good directory, not watched; one that does not load
		// matters only when the source cannot be read either (startSource).
		if err := m.startSource(cfg.ScriptSource, err); err != nil {
			m.watchdog.close()
			return nil, err
		}
	} else if cfg.ScriptDir != "" {
		w, err := m.watchDir(cfg.ScriptDir)
		if err != nil {
			m.watchdog.close()
			return nil, fmt.Errorf("fastlua: watching %s: %w", cfg.ScriptDir, err)
		}
		m.watcher = w
	}
	m.queue = newQueue(m, cfg.QueueSize, cfg.QueueWorkers)
	return m, nil
}

// maxArrayIndex replaces gopher-lua's MaxArrayIndex (64M). gopher-lua stores t[n] in a table's
// array part when n is below it, filling the gap with nils, so `t[60000000] = 1` allocated ~1 GB
// in one instruction. Beyond it, keys go to the hash part: such arrays work, but ipairs, # and
// table.* see only their first maxArrayIndex-1 elements. The setting is process-wide, so it
// applies to every gopher-lua state in the program.
const maxArrayIndex = 1 << 20

var lowerMaxArrayIndex sync.Once

// buildSession calls the Session hook; a panic in it is logged and gives no session.
func (m *Middleware) buildSession(hook func(*fasthttp.RequestCtx) any, ctx *fasthttp.RequestCtx) (v any) {
	defer func() {
		if r := recover(); r != nil {
			m.logger.Error("fastlua: Config.Session panicked", slog.Any("panic", r))
			v = nil
		}
	}()
	return hook(ctx)
}

// normalizePrefix returns the prefix with a leading slash and without a trailing one.
func normalizePrefix(p string) []byte {
	p = "/" + strings.Trim(p, "/")
	if p == "/" {
		return nil
	}
	return []byte(p)
}

// Wrap returns a handler that runs the matching scripts around next.
func (m *Middleware) Wrap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		rt := m.routes.Load()
		pl, ok := rt.find(ctx.Path())
		if !ok {
			next(ctx)
			return
		}
		x := m.exchangeAt(rt, pl, ctx, next)
		m.active.add(x.shard, 1) // the exchange's shard: cores do not share the counter's line
		defer m.active.add(x.shard, -1)
		if m.closing.Load() {
			putExchange(x)
			clearBody(&ctx.Response) // headers set earlier in the chain (CORS) stay
			WriteError(&ctx.Response, fasthttp.StatusServiceUnavailable, ErrClosed.Error())
			return
		}
		if len(m.debugToken) > 0 && m.debugRequested(&ctx.Request) {
			ctx.Request.Header.Del(DebugHeader) // the token goes no further than the middleware
			x.trace = &trace{}
			x.serve()
			x.setTraceHeader()
		} else {
			x.serve()
		}
		putExchange(x)
	}
}

// Consume starts this process's consumers of Config.QueueBackend (Config.QueueConsumers
// goroutines): they run the queued scripts of the events the backend delivers, whichever
// process published them, until Close. The platform.api calls of those scripts go through
// next, as a request's go through the handler given to Wrap (pass the same handler). A process
// with a backend that does not call Consume only publishes. Consume fails without a
// QueueBackend, with a nil next, after Close, and when called a second time.
func (m *Middleware) Consume(next fasthttp.RequestHandler) error {
	q := m.queue
	switch {
	case m.cfg.QueueBackend == nil:
		return errors.New("fastlua: Consume needs a Config.QueueBackend")
	case next == nil:
		return errors.New("fastlua: Consume needs the handler the queued scripts' platform.api calls go to")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return ErrClosed
	case q.stopConsuming != nil:
		return errors.New("fastlua: Consume was called already")
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.stopConsuming, q.consumeNext = cancel, next
	q.consume(ctx, m.cfg.QueueConsumers)
	return nil
}

// Close stops the middleware. Requests that arrive afterwards and match a script are answered
// with 503; requests already being served finish (until ctx ends); then the queued events
// accepted so far are run, until ctx ends. Every accepted event that could not be run is
// logged, and counted in the returned error (ErrQueueClosed). Finally the Lua states are
// closed. Close waits for scripts that are running, which their time limits bound.
func (m *Middleware) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.closing.Store(true)
	m.mu.Unlock()
	if m.watcher != nil {
		m.watcher.close()
	}
	if m.source != nil {
		m.source.close()
	}

	var errs []error
	for m.active.load() > 0 {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("fastlua: Close: %d requests still running when the context ended", m.active.load()))
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.queue.close(ctx); err != nil {
		m.logger.Error(err.Error())
		errs = append(errs, err)
	}
	m.pool.close()
	m.watchdog.close()
	return errors.Join(errs...)
}
