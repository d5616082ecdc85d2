package bridge

import (
	"fmt"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Fixed field sets.
//
// event, event.request and event.response have a fixed set of fields: every field
// DreamFactory's scripts use, and fastlua's own. Reading any other name raises an error that
// names the object and suggests the nearest fields, so a misspelled field fails where it is
// read (event.request.body) instead of a line later as a nil. A known field that has no value
// (event.response.content in pre_process) is nil, as before. The check runs only for names the
// objects' __index functions do not know, so reading a known field costs nothing more.

// The fields of event, event.request and event.response (SPEC section 2).
var (
	eventFieldSet   = []string{"name", "params", "resource", "queue_id", "request", "response"}
	requestFieldSet = []string{"method", "uri", "path", "service", "content_type", "headers", "parameters",
		"payload", "content", "api_version", "remote_addr", "scheme", "host", "id"}
	responseFieldSet = []string{"status_code", "content_type", "headers", "content"}
)

// fieldHints are the fields suggested for names other systems use.
var fieldHints = map[string][]string{
	"body":        {"content", "payload"},
	"data":        {"content", "payload"},
	"json":        {"payload"},
	"query":       {"parameters"},
	"params":      {"parameters"},
	"args":        {"parameters"},
	"status":      {"status_code"},
	"code":        {"status_code"},
	"header":      {"headers"},
	"verb":        {"method"},
	"url":         {"uri", "path"},
	"ip":          {"remote_addr"},
	"version":     {"api_version"},
	"request_id":  {"id"},
	"contenttype": {"content_type"},
}

// unknownField raises the error for reading key from obj (as "event.request"), which has the
// given fields, unless key is one of them.
func unknownField(L *lua.LState, obj string, fields []string, key lua.LValue) {
	k, ok := key.(lua.LString)
	if !ok {
		L.RaiseError("%s has no field %s (its fields are %s)", obj, key.String(), strings.Join(fields, ", "))
	}
	if slices.Contains(fields, string(k)) {
		return
	}
	L.RaiseError("%s", unknownFieldMessage(obj, fields, string(k)))
}

// unknownFieldMessage is the message for reading or writing name on obj, which has fields:
// `event.request has no field "body" (did you mean "content" or "payload"?)`.
func unknownFieldMessage(obj string, fields []string, name string) string {
	sugg := suggest(fields, name)
	if obj == "event" {
		// event.request.x written as event.x
		for _, sub := range []struct {
			name   string
			fields []string
		}{{"request", requestFieldSet}, {"response", responseFieldSet}} {
			if slices.Contains(sub.fields, name) {
				sugg = append(sugg, sub.name+"."+name)
			}
		}
	}
	msg := fmt.Sprintf("%s has no field %q", obj, name)
	switch len(sugg) {
	case 0:
		return msg + " (its fields are " + strings.Join(fields, ", ") + ")"
	case 1:
		return msg + fmt.Sprintf(" (did you mean %q?)", sugg[0])
	default:
		q := make([]string, len(sugg))
		for i, s := range sugg {
			q[i] = fmt.Sprintf("%q", s)
		}
		return msg + " (did you mean " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1] + "?)"
	}
}

// suggest returns the fields nearest to name: the hints for it, then those within an edit
// distance of a third of its length (at least 1), nearest first.
func suggest(fields []string, name string) []string {
	lower := strings.ToLower(name)
	var out []string
	for _, h := range fieldHints[strings.ReplaceAll(lower, "-", "")] {
		if slices.Contains(fields, h) {
			out = append(out, h)
		}
	}
	if len(out) > 0 {
		return out
	}
	limit := max(1, len(name)/3)
	best := map[string]int{}
	for _, f := range fields {
		if d := editDistance(lower, f); d <= limit {
			best[f] = d
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return best[a] - best[b] })
	if len(out) > 3 {
		out = out[:3]
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
