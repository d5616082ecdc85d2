package fastlua

import (
	"errors"
	"testing"
)

func TestParsePattern(t *testing.T) {
	good := map[string]string{
		"db._table.{table_name}.get.pre_process": "db._table.{table_name}.get.pre_process",
		"db.GET.post_process":                    "db.get.post_process",
		"{service}.{rest...}.patch.queued":       "{service}.{rest...}.patch.queued",
		"files.{name}.delete.pre_process":        "files.{name}.delete.pre_process",
		"db.{rest...}.{verb}.pre_process":        "db.{rest...}.{verb}.pre_process",
	}
	for in, want := range good {
		p, err := parsePattern(in)
		if err != nil || p.text != want {
			t.Errorf("parsePattern(%q) = %v, %v; want %q", in, p, err, want)
		}
	}
	bad := []string{
		"", "db", "db.get", "db.get.later", "db.g3t.pre_process", "db..get.pre_process",
		"{svc...}.get.pre_process", "db.{a...}.x.get.pre_process", "db.{a}.{a}.get.pre_process",
		"db.{1a}.get.pre_process", "db.x{y}.get.pre_process", "db.a/b.get.pre_process",
		"db.{v}.{v}.pre_process", "db.{verb...}.pre_process", "db.x.{}.pre_process",
	}
	for _, in := range bad {
		if _, err := parsePattern(in); err == nil {
			t.Errorf("parsePattern(%q) succeeded", in)
		} else if !errors.As(err, new(*PatternError)) {
			t.Errorf("parsePattern(%q): %T is not a *PatternError", in, err)
		}
	}
}
