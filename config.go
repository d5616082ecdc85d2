package fastlua

import (
	"io/fs"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
)

// Config and its defaults (withDefaults): every field's comment says its zero-value behaviour.

// Config configures a Middleware. The zero value works: every field's comment says its default.
type Config struct {
	// Prefix is the path below which requests are events; the first segment below it is the
	// service. Default "/": every request is an event.
	Prefix string

	// Scripts are installed by New, as by Set.
	Scripts []Script

	// ScriptDir is a directory of script files (see "Script files" in the package
	// documentation) installed by New and watched: a file added, changed, renamed or removed
	// takes effect within a second. The admin API writes its changes there. Default "": none.
	ScriptDir string

	// ScriptFS is a file system (an embed.FS, say) whose top-level script files New installs.
	// It is not watched. Default nil.
	ScriptFS fs.FS

	// ScriptSource, when set, is where the scripts are: a set shared by several instances
	// (redisstore.NewScriptSource keeps one on Redis), installed and followed as it changes, and
	// what the admin API writes to (see "Shared scripts" in source.go). ScriptDir is then the
	// last-known-good directory: read at start, written after each change, not watched.
	// Scripts and ScriptFS cannot be combined with it; Set and Remove change this instance only,
	// until the next read of the source. New waits at most 5 seconds for its first read (then
	// serves ScriptDir's set and keeps trying). Default nil.
	ScriptSource ScriptSource

	// ScriptResync is how often the whole ScriptSource is read, whatever it announced, so that
	// a lost announcement never leaves an instance stale. Default 30 seconds.
	ScriptResync time.Duration

	// AdminToken is the credential of the admin API (AdminHandler). Default "": the admin API
	// refuses every request.
	AdminToken string

	// DebugToken, when set, lets a request carrying it in an X-Fastlua-Debug header (compared in
	// constant time) be traced: each script run is logged at debug level, and the response gets
	// an X-Fastlua-Trace header, compact JSON of each run's script, phase, outcome and duration
	// in microseconds. Treat it as a secret. Default "": the header is ignored.
	DebugToken string

	// TimeLimit is the time limit of each script run, unless the script sets its own.
	// Default one second; negative means no limit.
	TimeLimit time.Duration

	// MaxTimeLimit is the longest time limit a script may set for itself (Script.TimeLimit, a
	// file's time_limit directive, the admin API's config.time_limit): a script asking for
	// more, or for none, is refused when it is set. Default 30 seconds, or TimeLimit when that
	// is longer; negative means no ceiling (then scripts may also ask for no limit), which is
	// also the default when TimeLimit is negative.
	MaxTimeLimit time.Duration

	// MaxStates bounds the number of Lua states, i.e. of scripts running at once. Default 64.
	MaxStates int

	// PoolTimeout is how long a request waits for a free state before it is answered with 503.
	// Default one second.
	PoolTimeout time.Duration

	// MaxStringSize caps the strings string.format, rep, gsub, upper, lower, reverse,
	// table.concat and `..` may produce in one call; a call that would pass it fails before it
	// builds anything. Default 4 MiB.
	MaxStringSize int

	// MaxLogSize caps the bytes one run may write with log.* and print (messages and fields
	// together, with those of the platform.api runs it makes): past it a record is cut, then the rest
	// of the run's records are dropped, with one warning saying so. Logging never fails a
	// script. Default 64 KiB.
	MaxLogSize int

	// MaxAPICalls caps the in-process platform.api calls made for one request, counting every
	// nesting level: past it a call raises an error. It bounds the fan-out of scripts that call
	// each other. Default 256.
	MaxAPICalls int

	// MaxJSONSize caps the JSON text made from a Lua table (json.encode, and the payload or
	// content a script changed) and the text a compressed body decompresses to when a script
	// reads it (event.request.payload and content, event.response.content, platform.api
	// results). Default 64 MiB.
	MaxJSONSize int

	// MaxJSONExpansion bounds the memory of the Lua values decoded from one JSON text
	// (event.request.payload, event.response.content, json.decode, platform.api results), as a
	// multiple of the text's length (after decompression): each table, string and number is
	// counted at its approximate cost before it is made, and past the budget (at least 64 KiB)
	// the decode fails with an error naming this field. Typical API documents take 10 to 20
	// times their length; texts of nothing but tiny tables ([{},{},...], [{"a":1},...]) take
	// 37 to 93 times, and are what it refuses. Default 32.
	MaxJSONExpansion int

	// MaxScriptSize caps the source of one script. Default 1 MiB.
	MaxScriptSize int

	// CallStackSize is the Lua call depth a script may reach. Default 200.
	CallStackSize int

	// MaxStackSlots is the number of Lua value-stack slots a state may grow to. Default 65536.
	MaxStackSlots int

	// MemoryLimit guards the Go heap: when the live heap (as of the last garbage collection)
	// passes it, every script that has been running for more than a watchdog tick (50 ms at
	// most), and through a garbage collection that ended after it began, is stopped with an
	// error naming the limit (a script that allocates nothing is not stopped for the garbage
	// of one stopped before it). The live heap is known only when a collection ends, so the
	// heap can reach about twice the limit first (with GOGC=100). gopher-lua cannot bound a
	// script's memory, so this is what stops a script that builds a huge table or string step
	// by step. Set it well above what the program itself holds. Default 0: no guard.
	MemoryLimit int64

	// CompileCacheSize is the number of compiled sources kept for reuse. Default 1024.
	CompileCacheSize int

	// HideErrors replaces the message of a script's unexpected error (which names the script
	// and line) by the HTTP status text in responses. Errors a script raises with a status
	// and message are sent as they are. Default false.
	HideErrors bool

	// OnError, when set, is called with every script failure, before the answer is written:
	// a failure that answers the request, one of a script that fails open (err.FailOpen; the
	// request goes on), one of a queued script (ctx is then the queued copy of the request), and
	// a request no Lua state became free for (KindUnavailable). It runs on the request's
	// goroutine: keep it short. It must not keep ctx past its return (fasthttp reuses it); err
	// is its own to keep. Default nil.
	OnError func(ctx *fasthttp.RequestCtx, err *ScriptError)

	// ErrorWriter, when set, writes the answer to a script failure that fails the request,
	// instead of DreamFactory's body (WriteError): problem+json, a program's own envelope. It
	// gets the response with its body cleared (before the handler: the headers set so far
	// kept; after it: reset); err.ClientMessage(Config.HideErrors) is the message the default
	// body would carry. Default nil: WriteError(&ctx.Response, err.Status, that message).
	ErrorWriter func(ctx *fasthttp.RequestCtx, err *ScriptError)

	// Tracer, when set, makes spans of each request's work: the request through the
	// middleware, each phase, each script run (see Tracer), parented on the request's
	// traceparent, and carried into the platform.api calls and queued scripts of the request.
	// fastluaotel.New makes one for OpenTelemetry. Default nil: no spans, and a nil check per
	// phase and per script.
	Tracer Tracer

	// MaxScriptMetrics bounds the metric names scripts may make with the metrics module; a
	// call naming a new one past it raises an error naming this field. Default 256.
	MaxScriptMetrics int

	// MaxScriptMetricSeries bounds the label sets of one script metric; a call with a new
	// one past it raises an error naming this field. Default 64.
	MaxScriptMetricSeries int

	// Logger receives errors, print output and log calls. Default slog.Default().
	Logger *slog.Logger

	// Clock, when set, is the time scripts see: os.time() and os.date without a time argument,
	// time.now() and the timestamp of uuid.v7() (script tests fix it with fastlua.clock).
	// Default nil: the system clock.
	Clock func() time.Time

	// DurationBuckets are the upper bounds of the buckets of each script's run-time histogram
	// (Stats, and the fastluaprom collector): positive, increasing, at most 64; a last,
	// unbounded bucket holds the rest. New copies them. Default DefaultDurationBuckets(),
	// 50 µs to 2.5 s.
	DurationBuckets []time.Duration

	// PlatformConfig is what scripts read as platform.config (read-only): any Go value, maps,
	// slices and structs alike (a scalar is refused by New). Default nil: an empty table.
	PlatformConfig any

	// Session builds what scripts read as platform.session (read-only) from the request, once
	// per request, on first use (and before the handler returns when the request has queued
	// scripts). Typical values: the user, the role, the API key. Default nil: platform.session is
	// an empty read-only table.
	Session func(ctx *fasthttp.RequestCtx) any

	// Store is platform.store. Default: a new MemoryStore (in-process), bounded by
	// MaxStoreEntries, MaxStoreBytes, MaxStoreKey and MaxStoreValue.
	Store Store

	// MaxStoreKey bounds a platform.store key, whatever the Store: a longer key fails get, set,
	// incr and delete before the store is called. Default 1 KiB.
	MaxStoreKey int

	// MaxStoreValue bounds a string, or a table's JSON, that platform.store.set stores,
	// whatever the Store. Default 1 MiB.
	MaxStoreValue int

	// MaxStoreEntries bounds the entries of the default in-process store (when Store is nil):
	// a new key in a full store drops the expired entries, then fails. Default 1,048,576.
	MaxStoreEntries int

	// MaxStoreBytes bounds the memory of the default in-process store's entries (keys, values
	// and 64 bytes each), as MaxStoreEntries bounds their number. Default 256 MiB.
	MaxStoreBytes int64

	// AllowedHosts are the hosts platform.api may send absolute http:// and https:// URLs to:
	// "api.example.com" (any port), "api.example.com:8443", or "*.example.com". Default none.
	AllowedHosts []string

	// TrustedProxies lists the proxies (IP addresses, "10.0.0.1", or CIDR ranges,
	// "10.0.0.0/8") whose forwarding headers are believed: X-Forwarded-For or Forwarded (RFC
	// 7239) for event.request.remote_addr, X-Forwarded-Proto and X-Forwarded-Host (or
	// Forwarded's proto= and host=) for .scheme and .host. The forwarded-for list is read from
	// the right, skipping trusted hops; the first untrusted one is the client. Default empty:
	// no one is believed, and remote_addr is the connection's peer whatever a client sends.
	TrustedProxies []string

	// HTTPTimeout bounds an outgoing platform.api request (and a call to a remote Store);
	// the running script's time limit bounds it too (a call that runs out of the script's time
	// fails the script with its time-limit error). Default 10 seconds.
	HTTPTimeout time.Duration

	// HTTPClient sends outgoing platform.api requests. Default a fasthttp.Client with
	// Config.HTTPTimeout for reads and writes.
	HTTPClient *fasthttp.Client

	// QueueSize bounds the queued events waiting for a worker. Default 1024.
	QueueSize int

	// QueueWorkers is the number of goroutines running queued scripts. Default
	// GOMAXPROCS, at least 2.
	QueueWorkers int

	// QueueFull says what happens to a queued event when the queue is full: QueueDrop (the
	// default: dropped, logged and counted) or QueueBlock (the request waits up to QueueWait).
	QueueFull QueuePolicy

	// QueueWait is how long a request waits for room in a full queue with QueueBlock.
	// Default 100 milliseconds.
	QueueWait time.Duration

	// QueueBackend, if set, carries queued events to consumers in any number of processes
	// (see the redisstore package) instead of running them in this one. Default nil.
	QueueBackend QueueBackend

	// QueueFallback says what happens to a queued event the backend could not take:
	// FallbackLocal (the default) runs it here, FallbackDrop drops, logs and counts it.
	QueueFallback FallbackPolicy

	// QueueConsumers is the number of goroutines Consume starts to consume the backend's
	// events in this process. Default Config.QueueWorkers.
	QueueConsumers int

	// QueueMaxAttempts is how many deliveries, to any consumer, an event from the backend gets
	// when no consumer has a queued script for it: a consumer without one never acknowledges
	// it, but releases it for another (or for itself, once the script is installed); at the
	// last attempt it is moved to the backend's dead-letter place, logged and counted. An
	// event delivered more often than that (its consumers stopped while running it) is
	// dead-lettered too, rather than run again. Default 10.
	QueueMaxAttempts int

	// QueueRetryDelay is how long an event released that way waits before it is delivered
	// again, doubled on each attempt up to 30 seconds (or QueueRetryDelay, if longer); a
	// backend may bound it further (redisstore: QueueConfig.ClaimIdle). Default one second:
	// about two and a half minutes over the default 10 attempts.
	QueueRetryDelay time.Duration
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "/"
	}
	if c.TimeLimit == 0 {
		c.TimeLimit = time.Second
	}
	if c.MaxTimeLimit == 0 {
		switch {
		case c.TimeLimit < 0:
			c.MaxTimeLimit = -1
		case c.TimeLimit > 30*time.Second:
			c.MaxTimeLimit = c.TimeLimit
		default:
			c.MaxTimeLimit = 30 * time.Second
		}
	}
	if c.ScriptResync <= 0 {
		c.ScriptResync = 30 * time.Second
	}
	if c.MaxStates <= 0 {
		c.MaxStates = 64
	}
	if c.PoolTimeout <= 0 {
		c.PoolTimeout = time.Second
	}
	if c.MaxStringSize <= 0 {
		c.MaxStringSize = 4 << 20
	}
	if c.MaxLogSize <= 0 {
		c.MaxLogSize = 64 << 10
	}
	if c.MaxAPICalls <= 0 {
		c.MaxAPICalls = 256
	}
	if c.MaxJSONSize <= 0 {
		c.MaxJSONSize = 64 << 20
	}
	if c.MaxJSONExpansion <= 0 {
		c.MaxJSONExpansion = bridge.DefaultJSONExpansion
	}
	if c.MaxScriptSize <= 0 {
		c.MaxScriptSize = 1 << 20
	}
	if c.CallStackSize <= 0 {
		c.CallStackSize = 200
	}
	if c.MaxStackSlots <= 0 {
		c.MaxStackSlots = 1 << 16
	}
	if c.CompileCacheSize <= 0 {
		c.CompileCacheSize = 1024
	}
	if c.MaxScriptMetrics <= 0 {
		c.MaxScriptMetrics = 256
	}
	if c.MaxScriptMetricSeries <= 0 {
		c.MaxScriptMetricSeries = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.DurationBuckets) == 0 {
		c.DurationBuckets = DefaultDurationBuckets()
	} else {
		c.DurationBuckets = slices.Clone(c.DurationBuckets)
	}
	if c.MaxStoreKey <= 0 {
		c.MaxStoreKey = 1 << 10
	}
	if c.MaxStoreValue <= 0 {
		c.MaxStoreValue = 1 << 20
	}
	if c.Store == nil {
		c.Store = NewMemoryStoreWith(MemoryStoreConfig{MaxEntries: c.MaxStoreEntries, MaxBytes: c.MaxStoreBytes,
			MaxKeySize: c.MaxStoreKey, MaxValueSize: c.MaxStoreValue})
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &fasthttp.Client{ReadTimeout: c.HTTPTimeout, WriteTimeout: c.HTTPTimeout, NoDefaultUserAgentHeader: true}
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 1024
	}
	if c.QueueWorkers <= 0 {
		c.QueueWorkers = max(2, runtime.GOMAXPROCS(0))
	}
	if c.QueueWait <= 0 {
		c.QueueWait = 100 * time.Millisecond
	}
	if c.QueueConsumers <= 0 {
		c.QueueConsumers = c.QueueWorkers
	}
	if c.QueueMaxAttempts <= 0 {
		c.QueueMaxAttempts = 10
	}
	if c.QueueRetryDelay <= 0 {
		c.QueueRetryDelay = time.Second
	}
	return c
}

// QueuePolicy says what happens to a queued event when the queue is full.
type QueuePolicy uint8

const (
	// QueueDrop drops the event, logs it and counts it. The response is never delayed.
	QueueDrop QueuePolicy = iota
	// QueueBlock makes the request wait up to Config.QueueWait for room, then drops.
	QueueBlock
)

// FallbackPolicy says what happens to a queued event its QueueBackend could not take.
type FallbackPolicy uint8

const (
	// FallbackLocal runs the event in this process, as without a backend.
	FallbackLocal FallbackPolicy = iota
	// FallbackDrop drops the event, logs it and counts it.
	FallbackDrop
)
