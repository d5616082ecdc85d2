package fastlua

import (
	"bytes"
	"slices"
	"unsafe"

	"github.com/fastlua/fastlua/bridge"
)

// Finding a request's scripts: routes is the installed set as a segment trie, and lookup is the
// one way every caller (Wrap, a nested platform.api call, a queued event, a delivery from a
// queue backend, Match) goes from a method and a decoded path to the scripts that run, in
// their order. find is its first half, the cheap test that lets other requests pass; fill the second.

// routes is an immutable snapshot of the installed scripts: a segment trie from a request's
// path segments to the scripts whose patterns match. Installing scripts builds a new snapshot and
// swaps it in atomically, so requests never take a lock to find their scripts.
type routes struct {
	prefix  []byte // Config.Prefix without its trailing slash ("" for "/")
	root    node   // root.children are services; root.param is a {service} placeholder
	byName  map[string]*script
	queued  bool // some script is queued
	nActive int
}

type node struct {
	children map[string]*node
	param    *node     // {name} child
	catchAll []*script // patterns whose {name...} starts here
	exact    []*script // patterns that end here
}

// span locates one path segment inside the path.
type span struct{ start, end int }

func newRoutes(prefix []byte, scripts map[string]*script) *routes {
	rt := &routes{prefix: prefix, byName: scripts}
	for _, s := range scripts {
		if s.Disabled {
			continue
		}
		rt.nActive++
		if s.pat.phase == bridge.Queued {
			rt.queued = true
		}
		n := &rt.root
		for _, seg := range s.pat.segs {
			switch seg.kind {
			case segLiteral:
				if n.children == nil {
					n.children = map[string]*node{}
				}
				c := n.children[seg.text]
				if c == nil {
					c = &node{}
					n.children[seg.text] = c
				}
				n = c
			case segParam:
				if n.param == nil {
					n.param = &node{}
				}
				n = n.param
			case segCatchAll:
				n.catchAll = append(n.catchAll, s)
				n = nil
			}
			if n == nil {
				break
			}
		}
		if n != nil {
			n.exact = append(n.exact, s)
		}
	}
	return rt
}

// service finds the service segment of path: the first segment below the prefix. ok is false
// for paths outside the prefix or without a service.
func (rt *routes) service(path []byte) (svc []byte, rest []byte, ok bool) {
	if len(rt.prefix) > 0 {
		if !bytes.HasPrefix(path, rt.prefix) {
			return nil, nil, false
		}
		path = path[len(rt.prefix):]
		if len(path) > 0 && path[0] != '/' {
			return nil, nil, false
		}
	}
	for len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	end := bytes.IndexByte(path, '/')
	if end < 0 {
		end = len(path)
	}
	if end == 0 {
		return nil, nil, false
	}
	return path[:end], path, true
}

// route is a request's place among the routes: its path from the service on, the path's
// segments, its verb (the method in lower case) and the scripts that match, in the order they
// run (by phase, then least specific first). Its slices start in its own arrays, so a pooled
// route allocates nothing for an ordinary request.
type route struct {
	path    []byte // from the service on; valid for the request
	segs    []span // into path; segs[0] is the service
	verb    []byte // lower case
	matched []*script

	segBuf   [16]span
	verbBuf  [16]byte
	matchBuf [8]*script
}

func (r *route) init() {
	r.segs, r.verb, r.matched = r.segBuf[:0], r.verbBuf[:0], r.matchBuf[:0]
}

func (r *route) reset() {
	clear(r.matched)
	r.path, r.segs, r.verb, r.matched = nil, r.segs[:0], r.verb[:0], r.matched[:0]
}

// phases splits the matching scripts by phase (matched is ordered by phase).
func (r *route) phases() (pre, post, queued []*script) {
	i := 0
	for i < len(r.matched) && r.matched[i].pat.phase == bridge.PreProcess {
		i++
	}
	j := i
	for j < len(r.matched) && r.matched[j].pat.phase == bridge.PostProcess {
		j++
	}
	return r.matched[:i], r.matched[i:j], r.matched[j:]
}

// place is where a request's path lands among the routes (find): the path from the service
// on, and the service's node (nil when no pattern names the service literally).
type place struct {
	rest []byte
	svc  *node
}

// find is the cheap test in front of lookup and its first half: ok is false for paths outside
// the prefix, without a service segment, or of a service no pattern names. It costs a prefix
// check and one map lookup, and lets every other request pass straight on; fill finishes the
// lookup from the place it found.
func (rt *routes) find(path []byte) (pl place, ok bool) {
	svc, rest, ok := rt.service(path)
	if !ok {
		return place{}, false
	}
	n := rt.root.children[string(svc)]
	return place{rest, n}, n != nil || rt.root.param != nil
}

// lookup is the one way a request finds its scripts: it fills r with the segments of path (the
// decoded path, ctx.Path()), the verb of method and the active scripts that match, in the order
// they run. It reports false, leaving r empty, for a path outside the prefix or without a
// service segment. A caller that ran find already goes on with fill.
func (rt *routes) lookup(method, path []byte, r *route) bool {
	svc, rest, ok := rt.service(path)
	if !ok {
		return false
	}
	rt.fill(place{rest, rt.root.children[string(svc)]}, method, r)
	return true
}

// fill is lookup from the place find found: the service's node is not looked up again.
func (rt *routes) fill(pl place, method []byte, r *route) {
	r.path = pl.rest
	r.segs = splitSegments(r.segs[:0], pl.rest)
	r.verb = appendLower(r.verb[:0], method)
	r.matched = rt.match(pl.svc, pl.rest, r.segs, r.verb, r.matched[:0])
}

// appendLower appends s in ASCII lower case to dst.
func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// splitSegments appends the spans of the non-empty segments of p to dst. The spans index p.
func splitSegments(dst []span, p []byte) []span {
	i := 0
	for i < len(p) {
		for i < len(p) && p[i] == '/' {
			i++
		}
		start := i
		for i < len(p) && p[i] != '/' {
			i++
		}
		if i > start {
			dst = append(dst, span{start, i})
		}
	}
	return dst
}

// match appends to out the active scripts for verb matching the path segments, in the order
// they run: by phase, then least specific first. svc is the service's node (nil when no
// pattern names the service literally).
func (rt *routes) match(svc *node, p []byte, segs []span, verb []byte, out []*script) []*script {
	if len(segs) == 0 {
		return out
	}
	start := len(out)
	if svc != nil {
		out = svc.match(p, segs, 1, verb, out)
	}
	if rt.root.param != nil {
		out = rt.root.param.match(p, segs, 1, verb, out)
	}
	found := out[start:]
	// Insertion sort: a request matches a handful of scripts, and this allocates nothing.
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && runsBefore(found[j], found[j-1]); j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	return out
}

func runsBefore(a, b *script) bool {
	if a.pat.phase != b.pat.phase {
		return a.pat.phase < b.pat.phase
	}
	return lessSpecific(a.pat, b.pat)
}

func (n *node) match(p []byte, segs []span, i int, verb []byte, out []*script) []*script {
	if i == len(segs) {
		return appendVerb(out, n.exact, verb)
	}
	out = appendVerb(out, n.catchAll, verb)
	seg := p[segs[i].start:segs[i].end]
	if c := n.children[string(seg)]; c != nil {
		out = c.match(p, segs, i+1, verb, out)
	}
	if n.param != nil {
		out = n.param.match(p, segs, i+1, verb, out)
	}
	return out
}

func appendVerb(out, list []*script, verb []byte) []*script {
	for _, s := range list {
		if s.pat.verb == string(verb) || s.pat.verbName != "" {
			out = append(out, s)
		}
	}
	return out
}

// sortedScripts returns the installed scripts ordered by name.
func (rt *routes) sortedScripts() []*script {
	list := make([]*script, 0, len(rt.byName))
	for _, s := range rt.byName {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b *script) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return list
}

// Match calls fn with each active script that would run for a request with this method and
// path, in the order they would run: the pre_process scripts, then post_process, then queued.
// It allocates nothing unless fn does (or more than 8 scripts match): it serves tools and tests
// that ask which scripts apply to a request.
func (m *Middleware) Match(method, path string, fn func(Script)) {
	rt := m.routes.Load()
	pl, ok := rt.find(s2b(path))
	if !ok {
		return
	}
	// fill's steps, on arrays on the stack (a route cannot stay there: its slices point into
	// its own arrays, which escape analysis sends to the heap).
	var segBuf [16]span
	var verbBuf [16]byte
	var matchBuf [8]*script
	segs := splitSegments(segBuf[:0], pl.rest)
	verb := appendLower(verbBuf[:0], s2b(method))
	for _, s := range rt.match(pl.svc, pl.rest, segs, verb, matchBuf[:0]) {
		fn(s.Script)
	}
}

// s2b views a string as bytes for reading.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
