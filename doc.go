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
//	event.request.remote_addr   the client's IP address; .scheme "http" or "https"; .host (read-only)
//	event.response.status_code, .headers, .content, .content_type
//
// These objects have a fixed set of fields (with .api_version, .remote_addr, .scheme, .host and
// .id of the request, nil where the middleware does not know them): reading or writing any other
// name raises an error that suggests the nearest, as `event.request has no field "body" (did you
// mean "content" or "payload"?)`.
//
// headers and parameters read and write fasthttp's own storage; assigning a list of strings sets
// a repeated header, nil deletes one; pairs() works on them (as on every event object). After a
// write the name holds exactly what the script wrote: every copy the request (or response) had
// under it goes first, repeated ones and, for headers, names in another case too, by every way
// of writing (one name, the whole table, nil, options.headers and options.parameters). The
// event objects go wherever tables go: headers and parameters (the request's and the
// response's) are accepted as options.headers, options.parameters and payload of platform.api,
// as a returned response's headers, by json.encode (anywhere inside a value) and by assignment
// to another set; pairs, next and # work on them as on a table (# is 0: names are no list). As
// options or headers a repeated value keeps its copies; json.encode and pairs show it joined
// with ",", as reading it does. json.encode(event.request) (and event.response, event) gives
// their fields, a body only as far as it is decoded already (payload) or, not compressed, as
// content; print and tostring show any event object's content in a compact form, at most
// 1 KiB.
//
// remote_addr is the connection's peer, scheme its TLS state and host the Host header, unless the
// peer is one of Config.TrustedProxies: then the forwarded-for list (Forwarded, RFC 7239, else
// X-Forwarded-For, every line in order) is read from the right, trusted hops skipped, and the
// first untrusted hop is the client (a hop that is not an address stops the walk at the last
// trusted one); scheme and host are the ones forwarded for that hop (Forwarded's proto= and
// host=, or X-Forwarded-Proto and X-Forwarded-Host), when valid. With no TrustedProxies (the
// default) no forwarding header is believed. A
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
// encodes as an array. event.request.payload and event.response.content are decoded lazily:
// the text is checked once, and each JSON object is decoded only when a script reads one of its
// fields (pairs, next, rawget, rawset, getmetatable, setmetatable, json.encode and the like
// decode it whole, as the table it always was); a changed body is written as the original text
// with the script's changes spliced in: the objects it changed are written with their keys
// sorted, what it did not touch keeps its bytes (but an object it read from that has a key
// twice is written with only the copy it read, also when nothing changed). So a script that changes one field of a large
// document does work in proportion to what it touched, not to the document.
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
// {"error":{"code":400,"message":"..."}}, the message as given; code stands for status_code and
// error for message ({code = 400, message = ...}, {status_code = 404, error = "..."},
// {error = {code = 409, message = ...}}: DreamFactory's forms), a missing status is 500 and a
// missing message the status text. Any other table (neither, a status outside 400..599, a
// message that is not a string or a number) is a runtime error saying what was expected.
// error("text"), a runtime error, a broken limit and a timeout answer 500 with a message that
// names the script and line ("script db.get.pre_process, line 3: attempt to index a
// non-table object(nil) with key 'id'"), or only the status text with Config.HideErrors (the
// details are logged either way). A failing pre_process script stops the request: the handler
// and the post_process scripts are skipped; queued scripts still run.
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
// # Fitting the program around it
//
// Config.OnError is called with every script failure as a *ScriptError (script, event, phase,
// kind, status, line, traceback, request id; FailOpen for a script that fails open), before the
// answer is written, queued scripts' failures and KindUnavailable included. Config.ErrorWriter,
// when set, writes the answer to a failure that fails the request instead of DreamFactory's
// body (err.ClientMessage(Config.HideErrors) is that body's message).
//
// Every record a script writes with log.* or print, and every script error the middleware logs,
// carries the request's method, path, client address and request_id: the X-Request-Id header
// when it is at most MaxRequestIDLength bytes of printable ASCII, else an id made for the request
// on first use (nothing is made for a request nobody asks). Scripts read it as event.request.id;
// in-process platform.api calls share their request's id.
//
// The metrics module counts what scripts want: metrics.incr(name [, by] [, labels]),
// metrics.set(name, value [, labels]) and metrics.observe(name, value [, labels]) (a counter, a
// gauge, a summary's count and sum). A name is letters, digits and _; it keeps the kind and the
// label names of its first call. Config.MaxScriptMetrics bounds the names and
// Config.MaxScriptMetricSeries the label sets of one name (MaxMetricLabels, MaxMetricNameLength
// and MaxMetricValueSize bound a call); past them a call raises an error naming the bound.
// Stats().Metrics reports them; fastluaprom.NewScriptMetrics exports them as
// fastlua_script_metric_<name>[_total], fastluaotel.RegisterScriptMetrics through an
// OpenTelemetry meter.
//
// While the wrapped handler runs, ctx.UserValue(UserValueMatch) (or MatchOf(ctx)) is the *Match
// of a request that matched scripts: Param("table_name") and Params() give the placeholder
// bindings event.params had, Scripts() the pre_process scripts that ran and those still to run.
// It is removed when the handler returns.
//
// AdminHandlerWith(AdminOptions{Mount: "/admin/scripts", Verify: f}) mounts the admin API at a
// path of the program's choice and lets in the requests f accepts, besides Config.AdminToken.
//
// # Tracing
//
// Config.Tracer, when set, makes spans of a request's work (Tracer; the fastluaotel package is
// the OpenTelemetry one, so the core depends on no tracing library): a request span for a
// request that matches scripts, a child of the span in its traceparent header; in it a span per
// phase, and in each a span per script run, with the script's pattern, the concrete event, the
// phase, the outcome ("ok", "answered", or the failure's kind) and the failure (SpanEnd). An
// in-process platform.api request's phases are children of the calling script's span; the
// queued phase is a child of the request span, whose traceparent the queued copy of the request
// carries (through a queue backend too: its queued scripts see that traceparent, not the
// client's). In-process and outbound platform.api requests carry the calling script's span as
// their traceparent (Tracer.Inject), unless the script sets one in options.headers; the handler
// finds the span it runs in with MatchOf(ctx).Span(), to carry into its own calls. The log
// records tied to a request also get the running span's trace_id and span_id (Tracer.LogAttrs).
// Without a Tracer nothing of this runs: a nil check per phase and per script.
//
// # platform, json and log
//
// platform.api.get|post|put|patch|delete(path, payload, options) calls another endpoint;
// platform.api.call(verb, path, payload, options) is the same with the verb as an argument.
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
// its time-limit error ("exceeded its time limit of 1s", KindTimeout), pcall or not.
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
// exposed; pairs works on maps and slices). Without Config.Session, or when it returns nil,
// platform.session is an empty read-only map, so platform.session.user is nil, not an error.
// platform.config is an empty read-only map too when Config.PlatformConfig is nil; New refuses
// one that is not nil, a map, a struct, a slice or a pointer to one.
// DreamFactory's scripts expect its session's shape, which package fastluasession builds (a
// key without a value is absent):
//
//	api_key, session_token, session_id   strings
//	user                                 id, name, email, first_name, last_name, is_sys_admin
//	role, app                            id, name
//
// platform.store is Config.Store (an in-process
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
// (QueueBlock). Close runs what was accepted until its context ends, and logs and reports (as
// ErrQueueClosed) every accepted event it could not run. A queued script's errors are logged and
// counted. event.queue_id names the queued event ("local-N" in process). Queued scripts run for
// every request their pattern matches, also one a pre_process script refused or failed (when
// post_process scripts do not run): a script that acts only on success checks
// event.response.status_code.
//
// With Config.QueueBackend (package redisstore has one on Redis Streams) the workers serialize
// each queued event and publish it instead of running it. Consume(next) starts
// Config.QueueConsumers goroutines that consume events from the backend, published by any
// process, and run their queued scripts here, their platform.api calls going through next (pass
// the handler given to Wrap); a process that does not call it only publishes.
// Delivery is at least once: an event whose consumer died is delivered again elsewhere, with
// the same event.queue_id, so scripts that must act once can record it. When the backend
// refuses an event (it cannot be reached, or it is full: a bounded backend refuses new events
// rather than drop ones it accepted), Config.QueueFallback runs it here (FallbackLocal) or
// drops it (FallbackDrop); either way it is counted, and a request never waits for the
// backend. Several instances share platform.store by setting the same Config.Store (redisstore.Store).
//
// An event carries the names of the queued scripts that matched it where it was accepted, and a
// consumer runs exactly those, each in the version installed here: not a queued script of its
// own the publisher did not have, so what runs does not depend on which consumer took it. A
// consumer never acknowledges an event it cannot run in full. When one of its scripts is
// missing here (another instance has it, or this one does not have it yet, or has it disabled),
// the event is released for any consumer to take after Config.QueueRetryDelay (doubled on
// each attempt, one second by default), and after Config.QueueMaxAttempts deliveries (10) it is
// moved to the backend's dead-letter place (redisstore: a second stream), logged and counted (QueueStats.Retried and
// DeadLettered); so are an event that cannot be read and one delivered more often than that
// (its consumers kept stopping while they ran it). A queued script that runs and fails is done:
// its error is logged and counted (QueueStats.Failed), and it is not delivered again; one that
// got no Lua state (Close gave up waiting for one) did not run, and is released at once.
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
// themselves. Script tests, *_test.lua, are not scripts (see package fastluatest). New reports
// every file that fails at once, in a *ScriptsError (each a *CompileError with its file, line and
// message, or a *FileError); files that look like scripts but are skipped (a .LUA extension,
// none, a subdirectory) are logged with the reason (SkippedFiles lists them), and an fs.FS whose
// scripts are all in one subdirectory is an error saying to use fs.Sub.
//
// # Debugging
//
// With Config.DebugToken set, a request carrying the token in an X-Fastlua-Debug header gets an
// X-Fastlua-Trace response header listing each script run (script, phase, outcome, µs), and each
// run is logged at debug level; the header is removed before the handler. Without the token it
// is ignored.
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
// With Config.ScriptSource (redisstore.NewScriptSource: Redis), the scripts are a set several
// instances share: the admin API writes to the source, one change a version, and every instance
// installs each change, a version that does not compile here excepted (the running one stays,
// ScriptSourceStats.Refused names it); ScriptDir is then the last-known-good directory, served
// when the source is down at start. The admin API adds a script's version and history, a
// rollback (POST .../event_script/{name}/rollback) and a status (GET .../event_script/_status).
// See source.go.
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
// with time, clock, date and difftime only; json and log; and the library modules crypto,
// base64, url, re (Go's regexp), uuid and time (see the README for their functions). require
// returns those built-in modules and nothing else. There is no file, process or network access except through
// platform.
//
// Globals a script assigns live for that one run: each run has its own environment (and _G is
// that environment), so nothing reaches another request or another script. event and platform
// are read-only globals: assigning them is an error (a local may take either name). Library tables are
// read-only, also through rawset, table.insert, table.remove, table.sort and setmetatable, and
// the string metatable is protected. setmetatable takes tables only (as in Lua 5.1). pairs
// honours a __pairs metamethod.
//
// A number becomes text one way everywhere (tostring, .., print, log, table.concat, headers,
// string.format's %s, gsub, json.encode): the shortest text that reads back as the same number,
// without an exponent from 1e-6 to 1e21, as JavaScript writes numbers (gopher-lua's own
// tostring wrote 1796226846.598926 as 1.796226846598926e+09). tonumber(s) reads Lua 5.1's forms
// ("1e3", "0x1F", "010" as ten) and nothing else.
//
// Each run has a time limit: Config.TimeLimit (one second by default) or the script's own, which
// may not exceed Config.MaxTimeLimit (30 seconds by default; a script asking for more or for no
// limit is refused when it is set, so a script author cannot hold a state for ever). A run
// that exceeds it fails with an error naming the limit, even inside pcall or a coroutine, and
// its state is closed rather than reused; platform calls count against it. gopher-lua checks the
// limit before each instruction, and fastlua's Lua pattern matcher (string.find, match, gmatch,
// gsub) checks it as it backtracks. A short script with no loop and no function of its own
// (64 instructions at most, 8 calls, each `..` chain counting as one) runs without the
// per-instruction check: its cost is bounded by the caps below, and its limit is checked when it
// ends. A builtin's output is bounded before it is allocated: string.format, rep, gsub, upper,
// lower, reverse, table.concat and the `..` operator (one instruction in gopher-lua, which the
// compiler makes one call of a bounded function per chain, with the same results, metamethods and
// errors) by Config.MaxStringSize, json.encode (and JSON text made from a table) and the
// text a compressed body decompresses to by Config.MaxJSONSize, the Lua values a JSON text
// decodes to (payload, content, json.decode, platform.api results) by Config.MaxJSONExpansion
// times the text's length (a long decode also stops when the run's time limit or memory guard
// fires), unpack and string.byte by
// Config.MaxStackSlots, os.date's format at 256 bytes, patterns by length and recursion,
// coroutines at 64 per run, the call depth by Config.CallStackSize. Lua patterns are Lua 5.1's
// (internal/luapattern), except that a match nests at most 200 levels deep ("pattern too
// complex"), a zero byte in a pattern is an ordinary character and a gsub replacement string
// that ends with '%' is an error (all three as in Lua 5.2). string.format is Lua 5.1's:
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
// coroutine.resume, coroutine.wrap) and closes its state: the run fails with KindPanic, the
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
