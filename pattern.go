package fastlua

import (
	"fmt"
	"strings"

	"github.com/fastlua/fastlua/bridge"
)

// Event patterns: parsePattern reads a script name such as db._table.{table_name}.get.pre_process
// into its segments (literal, placeholder, rest), method and phase; the trie (trie.go) is built
// from them.

// segKind is the kind of one pattern segment.
type segKind uint8

const (
	segLiteral  segKind = iota
	segParam            // {name}: exactly one path segment
	segCatchAll         // {name...}: one or more remaining segments, last only
)

type segment struct {
	kind segKind
	text string // the literal, or the placeholder's name
}

// pattern is a parsed event pattern: service.resource....verb.type.
type pattern struct {
	text     string    // normalized written form
	segs     []segment // service first, then the resource segments
	verb     string    // lower case; "" when the verb is a placeholder
	verbName string    // the verb placeholder's name
	phase    bridge.Phase
	params   int  // number of placeholders
	catchAll bool // the last segment is {name...}
}

// PatternError reports an event pattern that cannot be parsed.
type PatternError struct {
	Pattern string
	Msg     string
}

// Error returns the error's text.
func (e *PatternError) Error() string {
	return fmt.Sprintf("fastlua: invalid event pattern %q: %s", e.Pattern, e.Msg)
}

// parsePattern parses "service[.resource...].verb.type". A segment may be {name} (one path
// segment, bound as event.params.name) or, as the last resource segment, {name...} (one or
// more segments, bound joined with "/"). The verb may be a {name} too: any method, bound in
// lower case.
func parsePattern(text string) (*pattern, error) {
	bad := func(format string, args ...any) (*pattern, error) {
		return nil, &PatternError{Pattern: text, Msg: fmt.Sprintf(format, args...)}
	}
	if i := controlByte(text); i >= 0 {
		return bad("it holds a control character (byte %d)", i+1)
	}
	parts := splitPattern(text)
	if len(parts) < 3 {
		return bad("want service[.resource...].verb.type, as db._table.{table_name}.get.pre_process")
	}
	p := &pattern{}
	switch typ := parts[len(parts)-1]; typ {
	case "pre_process":
		p.phase = bridge.PreProcess
	case "post_process":
		p.phase = bridge.PostProcess
	case "queued":
		p.phase = bridge.Queued
	default:
		return bad("the type %q is not pre_process, post_process or queued", typ)
	}
	names := map[string]bool{}
	verb := parts[len(parts)-2]
	switch {
	case strings.HasPrefix(verb, "{") && strings.HasSuffix(verb, "}") && isIdent(verb[1:len(verb)-1]):
		p.verbName = verb[1 : len(verb)-1]
		names[p.verbName] = true
		p.params++
	case isVerb(verb):
		p.verb = strings.ToLower(verb)
	default:
		return bad("the verb %q is not an HTTP method name or a {placeholder}", verb)
	}
	body := parts[:len(parts)-2]
	for i, s := range body {
		switch {
		case s == "":
			return bad("segment %d is empty", i+1)
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}"):
			name := s[1 : len(s)-4]
			if i == 0 {
				return bad("the service cannot be a {%s...} placeholder; use {%s}", name, name)
			}
			if i != len(body)-1 {
				return bad("{%s...} must be the last resource segment", name)
			}
			if !isIdent(name) {
				return bad("placeholder name %q is not an identifier", name)
			}
			if names[name] {
				return bad("placeholder {%s} appears twice", name)
			}
			names[name] = true
			p.segs = append(p.segs, segment{kind: segCatchAll, text: name})
			p.params++
			p.catchAll = true
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			if !isIdent(name) {
				return bad("placeholder name %q is not an identifier", name)
			}
			if names[name] {
				return bad("placeholder {%s} appears twice", name)
			}
			names[name] = true
			p.segs = append(p.segs, segment{kind: segParam, text: name})
			p.params++
		case strings.ContainsAny(s, "{}/"):
			return bad("segment %q: braces only enclose a whole placeholder, and '/' cannot appear", s)
		default:
			p.segs = append(p.segs, segment{kind: segLiteral, text: s})
		}
	}
	var b strings.Builder
	for _, s := range p.segs {
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{" + s.text + "}")
		case segCatchAll:
			b.WriteString("{" + s.text + "...}")
		}
		b.WriteByte('.')
	}
	if p.verbName != "" {
		b.WriteString("{" + p.verbName + "}")
	} else {
		b.WriteString(p.verb)
	}
	b.WriteByte('.')
	b.WriteString(p.phase.String())
	p.text = b.String()
	return p, nil
}

// splitPattern splits a pattern at the dots outside braces ({name...} holds dots).
func splitPattern(text string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '{':
			depth++
		case '}':
			depth--
		case '.':
			if depth == 0 {
				parts = append(parts, text[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, text[start:])
}

// lessSpecific orders patterns as DreamFactory runs them: more placeholders first, a {name...}
// before a {name}, then by name.
func lessSpecific(a, b *pattern) bool {
	if a.params != b.params {
		return a.params > b.params
	}
	if a.catchAll != b.catchAll {
		return a.catchAll
	}
	return a.text < b.text
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func isVerb(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// controlByte returns the index of the first ASCII control character (below 0x20, or DEL) in s,
// or -1.
func controlByte(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return i
		}
	}
	return -1
}
