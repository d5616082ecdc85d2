package fastlua

import (
	"bytes"
	"slices"
	"unsafe"

	"github.com/fastlua/fastlua/bridge"
)

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

// serviceNode returns the trie node of service svc (nil if no pattern names it), and whether
// any script could match a request for it.
func (rt *routes) serviceNode(svc []byte) (*node, bool) {
	n := rt.root.children[string(svc)]
	return n, n != nil || rt.root.param != nil
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
// they run: by phase, then least specific first. svc is the service's node from serviceNode.
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
// It allocates nothing unless fn does (or more than 16 scripts match): it serves tools and tests
// that ask which scripts apply to a request.
func (m *Middleware) Match(method, path string, fn func(Script)) {
	rt := m.routes.Load()
	svc, rest, ok := rt.service(s2b(path))
	if !ok {
		return
	}
	node, any := rt.serviceNode(svc)
	if !any {
		return
	}
	var segBuf [32]span
	var verbBuf [16]byte
	var matchBuf [16]*script
	verb := verbBuf[:0]
	for i := 0; i < len(method); i++ {
		c := method[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		verb = append(verb, c)
	}
	segs := splitSegments(segBuf[:0], rest)
	for _, s := range rt.match(node, rest, segs, verb, matchBuf[:0]) {
		fn(s.Script)
	}
}

// s2b views a string as bytes for reading.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
