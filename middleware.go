// Package fastlua runs Lua event scripts around any fasthttp handler, in the model of
// DreamFactory's event scripts: pre_process scripts before the handler (they may change the
// request, or answer it), post_process scripts after it (they may change the response), and
// queued scripts after the response has been sent.
//
//	mw, err := fastlua.New(fastlua.Config{
//		Prefix: "/api/v2",
//		Scripts: []fastlua.Script{{
//			Name:   "db._table.{table_name}.post.pre_process",
//			Source: `if event.request.payload.name == nil then
//			           error({status_code = 400, message = "name is required"})
//			         end`,
//		}},
//	})
//	if err != nil { ... }
//	defer mw.Close(context.Background())
//	fasthttp.ListenAndServe(":8080", mw.Wrap(handler))
//
// # Events
//
// A request is named by its service (the first path segment below Config.Prefix), its resource
// (the remaining segments) and its verb (the method in lower case):
// GET /api/v2/db/_table/customer is the event db._table.customer.get.pre_process, then
// ...post_process, then ...queued. Requests outside the prefix, or without a service segment,
// go straight to the next handler.
//
// The path scripts match is the request's path decoded once, as fasthttp decodes it
// (ctx.Path(): escapes decoded, then "." and ".." segments and repeated slashes resolved), and
// it is the path the next handler sees. A handler that forwards the request (a proxy) must send
// that path so that the next server decodes it into the same bytes, never the decoded path as
// if it were still encoded (a client's %252e%252e decodes to the text %2e%2e, which decoded
// again is ".."): AppendPath(dst, ctx.Path()) is that encoding, and examples/gateway uses it.
//
// A script is registered on a pattern, an event name in which a segment may be {name} (exactly
// one path segment, bound as event.params.name) or, as the last resource segment, {name...}
// (one or more segments, bound joined with "/"). The service may be a {name} too, and so may
// the verb (db._table.{rest...}.{verb}.pre_process runs for every method). Matching is
// done on path segments, so /files/report.pdf matches files.{file}.get.pre_process. Literal
// segments are compared exactly and cannot contain a dot. Empty segments (a trailing slash) are
// ignored. Every matching, active script runs, the least specific first: more placeholders
// before fewer, a {name...} before a {name}, then by name. A pattern matches its own path depth
// only: db.get.pre_process does not fire for /db/_table/customer; db.{path...}.get.pre_process
// covers everything below /db.
//
// # The event object
//
// Scripts see a global event with name, params, resource, request and response:
//
//	event.request.method        "GET" (writable in pre_process)
//	event.request.uri, .path, .service, .content_type
//	event.request.headers       lower-case names, case-insensitive; repeated headers joined with ","
//	event.request.parameters    query arguments
//	event.request.payload       the body decoded as JSON when it is JSON, else nil
//	event.request.content       the body, a string (decompressed: see below)
//	event.response.status_code, .headers, .content, .content_type
//
// headers and parameters read and write fasthttp's own storage; assigning a list of strings sets
// a repeated header, nil deletes one; pairs() works on them (as on every event object). A
// parameter a script writes (or the whole table it assigns) is written through to the query
// string and the request line, so every accessor of the request agrees on the query
// (QueryArgs, URI().QueryString, RequestURI, String, FullURI); a script that writes none costs
// nothing for it. A body is
// decoded only when a script reads payload or content, and written back only if it changed: after
// each script the decoded table is compared with the bytes it came from, and re-encoded (keys
// sorted, Content-Length right) only if they differ. So a script that only reads the payload
// leaves the body byte for byte as it was, and one that changes it in place
// (event.request.payload.timestamp = os.time()) needs no assignment. JSON null is json.null; an
// empty JSON array decodes to a table that encodes as [] again, and an array of any length
// encodes as an array.
//
// Scripts see a compressed body (Content-Encoding gzip, deflate, br or zstd: from a client, or
// from a fasthttp.CompressHandler between the middleware and the handler) decompressed, never
// the compressed bytes, up to Config.MaxJSONSize; past it, or when the body does not decompress
// or its coding is another, reading payload or content fails the script with an error that
// says so. A compressed body scripts only read is sent on as it was, byte for byte; a changed
// one is compressed again in its coding when it is written, so the client still gets the
// coding it asked for, and a CompressHandler around the middleware still compresses what the
// scripts made (an empty body, or one in a coding fastlua cannot produce, is written without
// Content-Encoding). Content-Encoding describes the body: a script that sets or removes that
// header changes only the header.
//
// In pre_process the request is writable; the response holds only what scripts set, and setting
// event.response.status_code or event.response.content answers the request: the handler is
// skipped, the remaining pre_process scripts too, and post_process and queued scripts still run on
// that answer. Response headers set in pre_process stay on the response. In post_process the
// request is read-only and the response is the handler's. A script may also return a table: one
// with status_code or content is the response (headers and content_type are taken from it too),
// any other table is sent as JSON with status 200; returning nothing changes nothing. Returning
// anything else is an error.
//
// A script registered with ReadOnly (DreamFactory's allow_event_modification = false) sees the
// same event, but every write raises an error naming the flag; a change made in place to a
// decoded table is found after the script and reported the same way.
//
// # Errors
//
// error({status_code = 400, message = "..."}) answers with that status and DreamFactory's body,
// {"error":{"code":400,"message":"..."}}, the message as given. error("text"), a runtime error,
// a broken limit and a timeout answer 500 with a message that names the script and line
// ("script db.get.pre_process, line 3: attempt to index a nil value"), or only the status text
// with Config.HideErrors (the details are logged either way). A failing pre_process script stops
// the request: the handler and the post_process scripts are skipped; queued scripts still run.
// Its error answer keeps the response headers set before it (by pre_process scripts, such as
// rate-limit headers, or by middleware earlier in the chain, such as CORS headers); only the
// status, the body and Content-Encoding are replaced. A failing post_process script replaces
// the handler's response whole with the error. A script with FailOpen has
// its errors logged and counted, and the request goes on as if it had not run (changes it made
// through the event objects before failing stay). When every state is busy for longer than
// Config.PoolTimeout the request is answered with 503.
//
// A script that does not compile is never installed: Set returns a *CompileError with the line
// and message, and the version already installed keeps running.
//
// # platform, json and log
//
// platform.api.get|post|put|patch|delete(path, payload, options) calls another endpoint.
// A relative path ("service/resource?query", below Config.Prefix) runs in process through this
// middleware and the handler it wraps, so the target's own scripts run. It is split at the
// first "?": the path is decoded once and resolved as a server would, relative to the prefix
// (one that resolves outside it, as "../x" or "%2e%2e/x" would, or holds a control character,
// raw or decoded, is an error); the query is taken as written, a raw space or "#" included,
// as DreamFactory takes it ("db/_table/t?filter=(a%3c2026-12-02 02:25:00)"); both are encoded
// again before the call, so the target's scripts match exactly the decoded path and nothing is
// decoded twice. The nested request carries the caller's headers (its credentials: the call
// shares the caller's session) except those describing the caller's body, then
// options.headers; options.parameters merge into its query as writes to
// event.request.parameters do (a string or number, a list for repeated values). A table
// payload is sent as JSON, a string as it is. The call runs on the caller's Lua state, so it
// never waits for the pool, within the caller's time limit; calls nest up to MaxAPIDepth.
//
// The handler below an in-process call cannot be interrupted: it reads the calling script's
// deadline with Deadline(ctx) (a user value of the nested RequestCtx; ok is false for requests
// from the network and for scripts without a limit) and should stop by then, as the gateway's
// proxy bounds its upstream call. A call that returns past the deadline fails the script with
// its time-limit error ("exceeded its time limit of 1s", ErrTimeout), pcall or not.
//
// An http:// or https:// URL goes out through Config.HTTPClient, only to Config.AllowedHosts,
// with Config.HTTPTimeout or the script's remaining time when that is shorter (running out of
// it fails the script as above), and without the caller's headers; its query is encoded the
// same way (a fragment is not sent) and options.parameters merge into it. The result is
// {status_code, headers, content, content_type} with content decompressed as the event's
// bodies are (its headers then lack Content-Encoding and Content-Length) and decoded when it
// is JSON; HTTP errors are results, not errors; a request that cannot be made is a 502 result
// (504 when Config.HTTPTimeout runs out). Returning the result answers with it
// (return platform.api.get(...)).
//
// platform.config is Config.PlatformConfig and platform.session what Config.Session built from
// the request (once per request, shared with its platform.api calls and queued scripts): any Go
// values, bridged with gopher-luar, read-only (every write raises an error; methods are not
// exposed; pairs works on maps and slices). platform.store is Config.Store (an in-process
// MemoryStore by default): get(k), set(k, v, ttl), incr(k, by, ttl), delete(k); values keep
// their type (string, number, boolean, table), ttl is in seconds, and incr starts a missing key
// from zero with the ttl and keeps an existing key's expiry: a fixed-window counter, for rate
// limits. Keys are at most Config.MaxStoreKey bytes (1 KiB) and strings or tables (as JSON) at
// most Config.MaxStoreValue (1 MiB), checked before any store is called. The in-process store
// holds at most Config.MaxStoreEntries entries (2^20) and Config.MaxStoreBytes (256 MiB): a new
// key in a full store first drops the expired entries, then fails; expired entries also go by
// themselves, and the memory of dropped entries is returned. Each bound is a limit error that
// names it.
//
// The json module has encode, decode (errors name the byte offset), null (what JSON null decodes
// to), empty_array and array(t) (a table that encodes as [] when empty). Numbers are float64:
// integers beyond 2^53 come back rounded to the nearest float; bytes that are not valid UTF-8
// decode as U+FFFD, as in encoding/json. The log module has debug, info,
// warn and error(message, fields) and writes to Config.Logger with the script and event as
// attributes; print writes at info level. Both are globals and can be required.
//
// # Queued scripts
//
// Queued scripts run after the handler has returned, off the request's goroutine, on a copy of
// the event: the request and response as post_process left them, the params, the session. A
// bounded queue (Config.QueueSize) feeds Config.QueueWorkers workers. When it is full, the
// event is dropped, logged and counted (QueueDrop), or the request waits up to Config.QueueWait
// (QueueWait). Close runs what was accepted until its context ends, and logs and reports (as
// ErrQueueClosed) every accepted event it could not run. A queued script's errors are logged and
// counted. event.queue_id names the queued event ("local-N" in process).
//
// With Config.QueueBackend (package redisstore has one on Redis Streams) the workers serialize
// each queued event and publish it instead of running it, and Config.QueueConsumers goroutines
// consume events from the backend, published by any process, and run their queued scripts here.
// Delivery is at least once: an event whose consumer died is delivered again elsewhere, with
// the same event.queue_id, so scripts that must act once can record it. When the backend
// refuses an event, Config.QueueFallback runs it here (FallbackLocal) or drops it
// (FallbackDrop); either way it is counted, and a request never waits for the backend. Several
// instances share platform.store by setting the same Config.Store (redisstore.Store).
//
// A consumer never acknowledges an event it cannot run. When no queued script matches it here
// (another instance has the script, or this one does not have it yet), the event is released
// for any consumer to take after Config.QueueRetryDelay (doubled on each attempt, one second by
// default), and after Config.QueueMaxAttempts deliveries (10) it is moved to the backend's
// dead-letter place (redisstore: a second stream), logged and counted (QueueStats.Retried and
// DeadLettered); so are an event that cannot be read and one delivered more often than that
// (its consumers kept stopping while they ran it). A queued script that runs and fails is done:
// its error is logged and counted (QueueStats.Failed), and it is not delivered again.
//
// # Script files
//
// A script file is named after its pattern, db._table.{table_name}.get.pre_process.lua, and holds
// the Lua source. Its settings are directives in the comment lines at its top, before the first
// line that is neither blank nor a -- comment:
//
//	-- fastlua: is_active = false
//	-- fastlua: allow_event_modification = false
//	-- fastlua: fail_open = true
//	-- fastlua: time_limit = 250ms
//
// is_active and allow_event_modification are DreamFactory's names (both true by default);
// fail_open is false by default; time_limit is a Go duration up to Config.MaxTimeLimit, or none
// when that is negative. An unknown key or a bad
// value is an error naming the file and line. Config.ScriptDir (watched) and Config.ScriptFS
// read the files at the top of a directory, through symlinks, ignoring names that start with
// "." (so a Kubernetes ConfigMap volume works as it is: its update, a swap of the ..data link,
// is a reload); LoadScripts and ParseScriptFile read them for programs that manage scripts
// themselves. A file that does not compile is reported with its file, line and message.
//
// A reload of ScriptDir never drops a script on weak evidence. A file that does not compile,
// cannot be read (a dangling or looping symlink, a directory), is empty (a file being written)
// or changes while it is read keeps the version already running, and is logged and counted
// (ScriptDirStats) once per problem. A script whose file is gone is removed, and logged, when a
// second read a quiet period later still finds it gone (an editor that renames the old file
// away before writing the new one leaves no gap). A directory that cannot be read keeps every
// script, logged once, until it can. The path is watched, not the directory: one renamed over
// it, deleted and recreated, or reached through a swapped symlink is read, and the directory is
// read in full every 5 seconds too, for changes no event announced.
//
// # Admin API
//
// AdminHandler serves the scripts as DreamFactory's system/event_script resource does (see its
// documentation): list, get, create or replace, update and delete, with the fields name, type,
// content, is_active, allow_event_modification and config (fail_open, time_limit). It needs
// Config.AdminToken; with Config.ScriptDir its changes are written to the directory all or
// nothing: new files are written under temporary names, then renamed into place; if any step
// fails, the files replaced are put back, the running scripts do not change, and the answer is
// 500.
//
// # Metrics
//
// Stats returns per-script runs, errors, timeouts and run-time histograms (one run in
// DurationSampleRate is timed, into the buckets of Config.DurationBuckets, which New copies: a
// middleware's buckets never change), the queue's depth and results, and the pool's states; a
// snapshot is the caller's to keep. The fastluaprom package exports them to Prometheus.
// ScriptDirStats counts the reloads of Config.ScriptDir and the file versions it did not install.
//
// # Sandbox and limits
//
// Scripts get the base library without dofile, loadfile, load, loadstring, module, getfenv,
// setfenv, collectgarbage and newproxy; string (without dump), table, math, coroutine, and os
// with time, clock, date and difftime only; json and log. require returns those built-in
// modules and nothing else. There is no file, process or network access except through
// platform.
//
// Globals a script assigns live for that one run: each run has its own environment (and _G is
// that environment), so nothing reaches another request or another script. event and platform
// are read-only globals: assigning them is an error (a local may take either name). Library tables are
// read-only, also through rawset, table.insert, table.remove, table.sort and setmetatable, and
// the string metatable is protected. setmetatable takes tables only (as in Lua 5.1). pairs
// honours a __pairs metamethod.
//
// Each run has a time limit: Config.TimeLimit (one second by default) or the script's own, which
// may not exceed Config.MaxTimeLimit (30 seconds by default; a script asking for more or for no
// limit is refused when it is set, so a script author cannot hold a state for ever). A run
// that exceeds it fails with an error naming the limit, even inside pcall or a coroutine, and
// its state is closed rather than reused; platform calls count against it. gopher-lua checks the
// limit before each instruction, and fastlua's Lua pattern matcher (string.find, match, gmatch,
// gsub) checks it as it backtracks. A short script with no loop, no function of its own and no
// concatenation (64 instructions at most, 8 calls) runs without the per-instruction check: its
// cost is bounded by the caps below, and its limit is checked when it ends. A builtin's output
// is bounded before it is allocated: string.format, rep, gsub, upper, lower, reverse and
// table.concat by Config.MaxStringSize, json.encode (and JSON text made from a table) and the
// text a compressed body decompresses to by Config.MaxJSONSize, unpack and string.byte by
// Config.MaxStackSlots, os.date's format at 256 bytes, patterns by length and recursion,
// coroutines at 64 per run, the call depth by Config.CallStackSize. string.format is Lua 5.1's:
// Go's fmt syntax (%[1]s, %v, %*d) is an invalid option, and its output is C's printf's. New
// also lowers gopher-lua's MaxArrayIndex (a process-wide setting) to 2^20, so that
// t[60000000] = 1 no longer fills 60 million array slots in one instruction; arrays longer than
// that still work, but ipairs, # and table.insert see only their first 2^20-1 elements (t[i] and
// pairs see them all; JSON bodies and json.encode keep arrays of any length arrays, and refuse
// one that table.insert past that end left holding an element twice). A source that nests
// expressions or blocks deeper than 1000 levels is refused at compile time. A run's log output
// (log.*, print) is capped by
// Config.MaxLogSize, and the in-process platform.api calls of one request by Config.MaxAPICalls.
// coroutine.yield is refused across a Go boundary (a metamethod, pcall, a sort comparator, a gsub
// callback), where gopher-lua cannot resume, as Lua 5.1 refuses it. A Go panic in a run (a
// builtin that panics, as math.random(0) does) stops it whatever catches it (pcall, xpcall,
// coroutine.resume, coroutine.wrap) and closes its state: the run fails with ErrPanic, the
// client gets a generic message and the log Go's text.
//
// Memory in general is not bounded per script: gopher-lua has no allocation hook, so a script
// can still build a large table, or double a string with .., until its time runs out.
// Config.MemoryLimit bounds it for the program: past it, long-running scripts are stopped.
// SECURITY.md has the threat model.
//
// # Performance
//
// Scripts are compiled once into shared, read-only prototypes (identical sources share one,
// through an LRU cache), and each pooled state keeps the function it built from each prototype,
// specialized for the state: a chain such as event.request.headers, whose objects never change
// there, is one constant load instead of a global and two field lookups, and reading or writing
// a header or parameter by a constant name (event.request.headers["x-id"]) is a direct call of a
// Go function bound to the object and the name, with no metatable lookup (specialize.go).
// A request whose path matches no script costs a prefix check and one map lookup and allocates
// nothing. The event objects are made once per state and reused; a field is produced only when
// a script reads it. A state without a time limit runs gopher-lua's plain VM loop; with one, the
// limit costs two atomic operations per run (see limits.go).
package fastlua

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

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

	// AdminToken is the credential of the admin API (AdminHandler). Default "": the admin API
	// refuses every request.
	AdminToken string

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

	// MaxStringSize caps the strings string.format, rep, gsub, upper, lower, reverse and
	// table.concat may produce in one call; a call that would pass it fails before it builds
	// anything. Default 4 MiB.
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

	// Logger receives errors, print output and log calls. Default slog.Default().
	Logger *slog.Logger

	// DurationBuckets are the upper bounds of the buckets of each script's run-time histogram
	// (Stats, and the fastluaprom collector): positive, increasing, at most 64; a last,
	// unbounded bucket holds the rest. New copies them. Default DefaultDurationBuckets(),
	// 50 µs to 2.5 s.
	DurationBuckets []time.Duration

	// PlatformConfig is what scripts read as platform.config (read-only): any Go value, maps,
	// slices and structs alike. Default nil.
	PlatformConfig any

	// Session builds what scripts read as platform.session (read-only) from the request, once
	// per request, on first use (and before the handler returns when the request has queued
	// scripts). Typical values: the user, the role, the API key. Default nil: no session.
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
	// default: dropped, logged and counted) or QueueWait (the request waits up to QueueWait).
	QueueFull QueuePolicy

	// QueueWait is how long a request waits for room in a full queue with QueueWait.
	// Default 100 milliseconds.
	QueueWait time.Duration

	// QueueBackend, if set, carries queued events to consumers in any number of processes
	// (see the redisstore package) instead of running them in this one. Default nil.
	QueueBackend QueueBackend

	// QueueFallback says what happens to a queued event the backend could not take:
	// FallbackLocal (the default) runs it here, FallbackDrop drops, logs and counts it.
	QueueFallback FallbackPolicy

	// QueueConsumers is the number of goroutines consuming the backend's events in this
	// process. Default Config.QueueWorkers.
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

// Middleware runs event scripts around fasthttp handlers. It is safe for concurrent use;
// scripts can be changed while requests run.
type Middleware struct {
	cfg        Config
	prefix     []byte
	logger     *slog.Logger
	fhLogger   fasthttpLogger
	compiler   *compiler
	pool       statePool
	watchdog   *watchdog
	queue      *queue
	store      Store
	httpClient *fasthttp.Client
	routes     atomic.Pointer[routes]
	stats      counters

	lastNext atomic.Value // the handler given to the last Wrap, for consumed queued events
	closing  atomic.Bool  // Close has begun: new requests that match scripts get 503
	active   atomic.Int64 // requests between the closing check and their end
	watcher  *dirWatcher

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
	if _, isLua := cfg.PlatformConfig.(lua.LValue); isLua {
		return nil, errors.New("fastlua: Config.PlatformConfig must be a Go value, not a Lua value")
	}
	if err := durationBuckets(cfg.DurationBuckets); err != nil {
		return nil, err
	}
	m := &Middleware{
		cfg:        cfg,
		prefix:     normalizePrefix(cfg.Prefix),
		logger:     cfg.Logger,
		fhLogger:   fasthttpLogger{cfg.Logger},
		compiler:   newCompiler(cfg.CompileCacheSize, cfg.MaxScriptSize),
		watchdog:   newWatchdog(uint64(max(cfg.MemoryLimit, 0))),
		store:      cfg.Store,
		httpClient: cfg.HTTPClient,
	}
	m.pool = statePool{m: m, max: cfg.MaxStates}
	m.routes.Store(newRoutes(m.prefix, map[string]*script{}))
	scripts := slices.Clone(cfg.Scripts)
	var errs []error
	if cfg.ScriptFS != nil {
		list, err := LoadScripts(cfg.ScriptFS, ".")
		errs = append(errs, err)
		scripts = append(scripts, list...)
	}
	if cfg.ScriptDir != "" {
		list, err := LoadScripts(os.DirFS(cfg.ScriptDir), ".")
		errs = append(errs, err)
		for i := range list {
			list[i].File = filepath.Join(cfg.ScriptDir, list[i].File)
		}
		scripts = append(scripts, list...)
	}
	if err := errors.Join(errs...); err != nil {
		m.watchdog.close()
		return nil, err
	}
	if len(scripts) > 0 {
		if err := m.Set(scripts...); err != nil {
			m.watchdog.close()
			return nil, err
		}
	}
	if cfg.ScriptDir != "" {
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
//
// With a QueueBackend, the queued scripts this process consumes make their platform.api calls
// through the handler given to the last Wrap.
func (m *Middleware) Wrap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	m.lastNext.Store(next)
	return func(ctx *fasthttp.RequestCtx) {
		rt := m.routes.Load()
		svc, path, ok := rt.service(ctx.Path())
		if !ok {
			next(ctx)
			return
		}
		node, any := rt.serviceNode(svc)
		if !any {
			next(ctx)
			return
		}
		m.active.Add(1)
		defer m.active.Add(-1)
		if m.closing.Load() {
			clearBody(&ctx.Response) // headers set earlier in the chain (CORS) stay
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetContentType("application/json")
			ctx.SetBody(errorBody(nil, fasthttp.StatusServiceUnavailable, ErrClosed.Error()))
			return
		}
		x := m.getExchange(ctx, next, path)
		x.serve(rt, node)
		putExchange(x)
	}
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

	var errs []error
	for m.active.Load() > 0 {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("fastlua: Close: %d requests still running when the context ended", m.active.Load()))
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
