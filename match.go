package fastlua

import "github.com/valyala/fasthttp"

// UserValueMatch is the ctx.UserValue key under which the wrapped handler finds the *Match of
// a request that matched scripts (nil for one that matched none): the placeholder bindings
// the scripts saw as event.params, and the pre_process scripts that ran. It is set while the
// handler runs and removed when it returns: do not keep the *Match.
const UserValueMatch = "fastlua.match"

// Match is what the handler sees of the scripts that matched its request (UserValueMatch,
// MatchOf). It is valid only while the handler runs.
type Match struct {
	x *exchange
}

// MatchOf returns the request's Match, or nil when no script matched it (or outside the
// wrapped handler).
func MatchOf(ctx *fasthttp.RequestCtx) *Match {
	m, _ := ctx.UserValue(UserValueMatch).(*Match)
	if m == nil || m.x == nil {
		return nil
	}
	return m
}

// Param returns the value bound to a placeholder ({table_name}, {verb}, a catch-all) of the
// pattern of any script that matched the request, as event.params has it.
func (m *Match) Param(name string) (value string, ok bool) {
	if m == nil || m.x == nil {
		return "", false
	}
	for _, s := range m.x.matched {
		m.x.visitParams(s, func(n, v string) {
			if !ok && n == name {
				value, ok = v, true
			}
		})
		if ok {
			return value, true
		}
	}
	return "", false
}

// Params returns every placeholder binding of the scripts that matched the request (the first
// script's, for a name several bind), a new map.
func (m *Match) Params() map[string]string {
	if m == nil || m.x == nil {
		return nil
	}
	out := map[string]string{}
	for _, s := range m.x.matched {
		m.x.visitParams(s, func(n, v string) {
			if _, dup := out[n]; !dup {
				out[n] = v
			}
		})
	}
	return out
}

// Scripts returns the names of the pre_process scripts that ran before the handler, in the
// order they ran, and of those that matched the request and will run after it, in order:
// post_process, then queued. The slices are new.
func (m *Match) Scripts() (ran, after []string) {
	if m == nil || m.x == nil {
		return nil, nil
	}
	pre, post, queued := m.x.phases()
	for _, s := range pre[:m.x.preRan] {
		ran = append(ran, s.Name)
	}
	for _, s := range post {
		after = append(after, s.Name)
	}
	for _, s := range queued {
		after = append(after, s.Name)
	}
	return ran, after
}
