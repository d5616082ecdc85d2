package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/redis/go-redis/v9"
)

// ScriptSourceConfig configures a ScriptSource. Its zero value works.
type ScriptSourceConfig struct {
	// Prefix starts every key, and the channel's name. Default "{fastlua}:scripts" (one hash
	// tag: in Redis Cluster every key of the set is in one slot, as a change's script needs).
	Prefix string
	// Keep is how many versions of each script are kept (its history, for rollbacks). Default 20.
	Keep int
	// KeepAlive is how long the subscription to changes may be idle before it is checked (a
	// PING), and how long the check may go unanswered before the subscription is replaced: a
	// connection dropped without a word is found within twice KeepAlive. Default one second.
	KeepAlive time.Duration
}

// ScriptSource is a fastlua.ScriptSource on Redis: the scripts several instances share (see
// Config.ScriptSource).
//
// The keys: <prefix>:version, the set's version (a counter); <prefix>:set, a hash of each
// script's name to its current version; <prefix>:history:<name>, a list of its last Keep
// versions, newest first. A change is one server-side script, so it is atomic: it checks the
// condition, bumps the version, writes the scripts and their histories, and publishes the new
// version on <prefix>:changes. Instances learn of changes by that channel (pub/sub: no
// configuration on the server, as keyspace notifications need, and nothing to trim, as a
// stream has; a message lost while an instance is disconnected is made good by the full read
// each resubscription triggers and by fastlua's periodic resync), then read the whole set (one
// MULTI: HGETALL and GET), which is small.
type ScriptSource struct {
	rdb     redis.UniversalClient
	cfg     ScriptSourceConfig
	honours bool
}

// NewScriptSource returns a script source on rdb. Make rdb with ContextTimeoutEnabled: true
// (see "Deadlines" in the package doc).
func NewScriptSource(rdb redis.UniversalClient, cfg ScriptSourceConfig) *ScriptSource {
	if cfg.Prefix == "" {
		cfg.Prefix = "{fastlua}:scripts"
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 20
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = time.Second
	}
	return &ScriptSource{rdb: rdb, cfg: cfg, honours: honoursContext(rdb)}
}

func (s *ScriptSource) versionKey() string         { return s.cfg.Prefix + ":version" }
func (s *ScriptSource) setKey() string             { return s.cfg.Prefix + ":set" }
func (s *ScriptSource) historyKey(n string) string { return s.cfg.Prefix + ":history:" + n }
func (s *ScriptSource) channel() string            { return s.cfg.Prefix + ":changes" }

// stored is a script as Redis holds it.
type stored struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	Disabled  bool   `json:"disabled,omitempty"`
	ReadOnly  bool   `json:"read_only,omitempty"`
	FailOpen  bool   `json:"fail_open,omitempty"`
	TimeLimit int64  `json:"time_limit_ns,omitempty"`
}

// An entry (in the set's hash and in a history) is "<version> <unix ms> <json>"; a deletion's
// json is "-".
func parseEntry(e string) (fastlua.ScriptVersion, error) {
	v, rest, ok1 := strings.Cut(e, " ")
	at, js, ok2 := strings.Cut(rest, " ")
	ver, err1 := strconv.ParseUint(v, 10, 64)
	ms, err2 := strconv.ParseInt(at, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return fastlua.ScriptVersion{}, fmt.Errorf("redisstore: a script entry is not <version> <ms> <json>: %.60q", e)
	}
	sv := fastlua.ScriptVersion{Version: ver, At: time.UnixMilli(ms)}
	if js == "-" {
		sv.Deleted = true
		return sv, nil
	}
	var st stored
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		return sv, fmt.Errorf("redisstore: a script entry's JSON: %w", err)
	}
	sv.Script = fastlua.Script{Name: st.Name, Source: st.Source, Disabled: st.Disabled, ReadOnly: st.ReadOnly,
		FailOpen: st.FailOpen, TimeLimit: time.Duration(st.TimeLimit)}
	return sv, nil
}

// Load implements fastlua.ScriptSource.
func (s *ScriptSource) Load(ctx context.Context) (fastlua.ScriptSet, error) {
	type res struct {
		v   string
		set map[string]string
	}
	r, err := bounded(ctx, s.honours, func(ctx context.Context) (res, error) {
		var get *redis.StringCmd
		var all *redis.MapStringStringCmd
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, s.versionKey())
			all = p.HGetAll(ctx, s.setKey())
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return res{}, err
		}
		v, err := get.Result()
		if errors.Is(err, redis.Nil) {
			v, err = "0", nil
		}
		if err != nil {
			return res{}, err
		}
		m, err := all.Result()
		return res{v, m}, err
	})
	if err != nil {
		return fastlua.ScriptSet{}, fmt.Errorf("redisstore: reading the scripts: %w", err)
	}
	ver, err := strconv.ParseUint(r.v, 10, 64)
	if err != nil {
		return fastlua.ScriptSet{}, fmt.Errorf("%w: redisstore: %s is not a version: %q", fastlua.ErrSourceUnreadable, s.versionKey(), r.v)
	}
	set := fastlua.ScriptSet{Version: ver}
	for name, e := range r.set {
		sv, err := parseEntry(e)
		if err != nil {
			return fastlua.ScriptSet{}, fmt.Errorf("%w: %w (script %s)", fastlua.ErrSourceUnreadable, err, name)
		}
		// The hash field is the script's name, once: an entry whose JSON names another script
		// (written to Redis by hand) would make two entries one script, and which of them ran
		// would follow the map's order from one read to the next.
		if !sv.Deleted && sv.Script.Name != name {
			return fastlua.ScriptSet{}, fmt.Errorf("%w: redisstore: the entry stored as script %.200q names the script %.200q: an entry's name must be its field's", fastlua.ErrSourceUnreadable, name, sv.Script.Name)
		}
		// And a script is stored under its canonical name only (Apply writes no other): two
		// spellings of one name would be two entries for one script.
		if c, err := fastlua.CanonicalName(name); err == nil && c != name {
			return fastlua.ScriptSet{}, fmt.Errorf("%w: redisstore: the entry stored as script %.200q is not under its canonical name %.200q: an entry's field is the canonical name", fastlua.ErrSourceUnreadable, name, c)
		}
		set.Scripts = append(set.Scripts, sv)
	}
	slices.SortFunc(set.Scripts, func(a, b fastlua.ScriptVersion) int { return strings.Compare(a.Script.Name, b.Script.Name) })
	return set, nil
}

// applyScript makes one change. KEYS: version, set, then one history key per operation.
// ARGV: the version required ("" for none), the versions kept, the time (ms), the channel,
// then per operation its name and its JSON ("-" to delete). A delete of a name the set does
// not hold fails the change before anything is written (NOTFOUND).
var applyScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= cur then
  return redis.error_reply('CONFLICT ' .. cur)
end
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] == '-' and redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then
    return redis.error_reply('NOTFOUND ' .. ARGV[i])
  end
end
local v = redis.call('INCR', KEYS[1])
local keep = tonumber(ARGV[2])
local n = 0
for i = 5, #ARGV, 2 do
  n = n + 1
  local name, js = ARGV[i], ARGV[i + 1]
  local entry = v .. ' ' .. ARGV[3] .. ' ' .. js
  if js == '-' then
    redis.call('HDEL', KEYS[2], name)
  else
    redis.call('HSET', KEYS[2], name, entry)
  end
  redis.call('LPUSH', KEYS[2 + n], entry)
  redis.call('LTRIM', KEYS[2 + n], 0, keep - 1)
end
redis.call('PUBLISH', ARGV[4], v)
return v
`)

// Apply implements fastlua.ScriptSource: one server-side script.
func (s *ScriptSource) Apply(ctx context.Context, c fastlua.ScriptChange) (uint64, error) {
	keys := []string{s.versionKey(), s.setKey()}
	ifv := ""
	if c.IfVersion != nil {
		ifv = strconv.FormatUint(*c.IfVersion, 10)
	}
	args := []any{ifv, s.cfg.Keep, time.Now().UnixMilli(), s.channel()}
	// Names are stored canonical (fastlua.CanonicalName), whoever calls Apply: two spellings
	// of one script would be two entries, and a delete of one would leave the other.
	canonical := func(name string) string {
		if c, err := fastlua.CanonicalName(name); err == nil {
			return c
		}
		return name
	}
	seen := map[string]bool{}
	for _, sc := range c.Put {
		sc.Name = canonical(sc.Name)
		if seen[sc.Name] {
			return 0, fmt.Errorf("redisstore: the script %s is given twice in one change", sc.Name)
		}
		seen[sc.Name] = true
		js, err := json.Marshal(stored{Name: sc.Name, Source: sc.Source, Disabled: sc.Disabled, ReadOnly: sc.ReadOnly,
			FailOpen: sc.FailOpen, TimeLimit: int64(sc.TimeLimit)})
		if err != nil {
			return 0, err
		}
		keys = append(keys, s.historyKey(sc.Name))
		args = append(args, sc.Name, string(js))
	}
	for _, name := range c.Delete {
		name = canonical(name)
		if seen[name] {
			return 0, fmt.Errorf("redisstore: the script %s is given twice in one change", name)
		}
		seen[name] = true
		keys = append(keys, s.historyKey(name))
		args = append(args, name, "-")
	}
	v, err := bounded(ctx, s.honours, func(ctx context.Context) (int64, error) {
		return applyScript.Run(ctx, s.rdb, keys, args...).Int64()
	})
	if err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "NOTFOUND "); ok {
			return 0, fmt.Errorf("%w: %s", fastlua.ErrSourceNoScript, name)
		}
		if strings.HasPrefix(err.Error(), "CONFLICT") {
			return 0, fmt.Errorf("%w (it is at version %s)", fastlua.ErrSourceConflict, strings.TrimPrefix(err.Error(), "CONFLICT "))
		}
		return 0, fmt.Errorf("redisstore: writing the scripts: %w", err)
	}
	return uint64(v), nil
}

// History implements fastlua.ScriptSource.
func (s *ScriptSource) History(ctx context.Context, name string) ([]fastlua.ScriptVersion, error) {
	list, err := bounded(ctx, s.honours, func(ctx context.Context) ([]string, error) {
		return s.rdb.LRange(ctx, s.historyKey(name), 0, -1).Result()
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading the history of %s: %w", name, err)
	}
	out := make([]fastlua.ScriptVersion, 0, len(list))
	for _, e := range list {
		sv, err := parseEntry(e)
		if err != nil {
			return nil, err
		}
		sv.Name = name
		out = append(out, sv)
	}
	return out, nil
}

// Watch implements fastlua.ScriptSource: it subscribes to the channel and calls changed for
// every message, every (re)subscription (messages published while it was disconnected are
// lost: the full read that follows makes them good) and the first error of a disconnection
// (the read that follows tells fastlua that Redis is down). A subscription idle for
// ScriptSourceConfig.KeepAlive is sent a PING; when no answer comes within as long again, its
// connection is taken for dead (one dropped without a word, a stalled Redis) and replaced by a
// new subscription: without that, a socket a middlebox forgot would wait for ever, and every
// change would reach this instance only at fastlua's next full resync.
func (s *ScriptSource) Watch(ctx context.Context, changed func()) error {
	for ctx.Err() == nil {
		s.subscribe(ctx, changed)
	}
	return nil
}

// subscribe is one subscription of Watch; it returns when ctx ends or its connection is taken
// for dead.
func (s *ScriptSource) subscribe(ctx context.Context, changed func()) {
	ps := s.rdb.Subscribe(ctx, s.channel())
	stop := context.AfterFunc(ctx, func() { ps.Close() }) // a Receive blocked on the socket ends
	defer stop()
	defer ps.Close()
	failing, pinged := false, false
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.cfg.KeepAlive)
		if ctx.Err() != nil {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if pinged {
				changed() // what was published meanwhile is lost: a read makes it good
				return
			}
			pinged = true
			_ = ps.Ping(ctx) // its answer, or an error, ends the next Receive
			continue
		}
		if err != nil {
			if !failing {
				failing = true
				changed() // a read now says whether Redis is down
			}
			// go-redis reconnects at the next Receive; wait a moment so a Redis that is down
			// is not dialled in a loop.
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		failing, pinged = false, false
		switch msg.(type) {
		case *redis.Message, *redis.Subscription:
			changed()
		}
	}
}

var _ fastlua.ScriptSource = (*ScriptSource)(nil)
