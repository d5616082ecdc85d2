package modules

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zone names in the tests do not depend on the system's zone files
)

func TestTimeErrors(t *testing.T) {
	runCases(t, Options{}, []luaCase{
		{`return time.format()`, "bad argument #1 to time.format (number expected, got no value)", true},
		{`return time.format("x", "rfc3339")`, "bad argument #1 to time.format (number expected, got string)", true},
		{`return time.format(0/0, "rfc3339")`, "bad argument #1 to time.format (a time in seconds between -62135596800 (the year 1) and 253402300799 (the year 9999) expected, got NaN)", true},
		{`return time.format(1e300, "rfc3339")`, "the year 9999) expected, got 1e+300", true},
		{`return time.format(0)`, "bad argument #2 to time.format (string expected, got no value)", true},
		{`return time.format(0, "Y-m-d")`, `bad argument #2 to time.format (the layout "Y-m-d" has no % directive: "rfc3339", "rfc3339nano" or a strftime layout like "%Y-%m-%d %H:%M:%S" expected)`, true},
		{`return time.format(0, "%Y %Q")`, "bad argument #2 to time.format (unknown directive %Q at byte 3 of the layout; supported: %Y %m %d", true},
		{`return time.format(0, "%Y %")`, "bad argument #2 to time.format (the layout ends with a lone %)", true},
		{`return time.format(0, string.rep("%Y", 10000))`, "time.format: the layout is 20000 bytes, more than the limit of 256", true},
		{`return time.format(0, "rfc3339", "+25:00")`, `bad argument #3 to time.format (an offset like "+02:00", "-0530" or "+02" expected, got "+25:00")`, true},
		{`return time.format(0, "rfc3339", "+2")`, `an offset like "+02:00", "-0530" or "+02" expected, got "+2"`, true},
		{`return time.format(0, "rfc3339", "Mars/Olympus")`, `bad argument #3 to time.format (unknown time zone "Mars/Olympus"`, true},
		{`return time.format(0, "rfc3339", "../../etc/passwd")`, `unknown time zone "../../etc/passwd"`, true},
		{`return time.format(0, "rfc3339", {})`, "bad argument #3 to time.format (string expected, got table)", true},
		{`return time.parse(nil, "rfc3339")`, "bad argument #1 to time.parse (string expected, got nil)", true},
		{`return time.parse("2026-05-01", "rfc3339")`, `time.parse: "2026-05-01" is not an RFC 3339 time like "2006-01-02T15:04:05Z"`, true},
		{`return time.parse("2026-13-01T00:00:00Z", "rfc3339")`, "month out of range", true},
		{`return time.parse("2026-05-01", "%Y-%m-%d %H")`, `time.parse: "2026-05-01" does not match the layout "%Y-%m-%d %H" at byte 10: " " expected`, true},
		{`return time.parse("2026-5-01", "%Y-%m-%d")`, `does not match the layout "%Y-%m-%d" at byte 5: a two-digit month (%m) expected`, true},
		{`return time.parse("2026-05-01x", "%Y-%m-%d")`, "extra text at byte 10", true},
		{`return time.parse("2026-02-30", "%Y-%m-%d")`, `time.parse: "2026-02-30": the day 30 is out of range (1 to 28)`, true},
		{`return time.parse("2026-05-01 24:00", "%Y-%m-%d %H:%M")`, "the hour 24 is out of range (0 to 23)", true},
		{`return time.parse("0000-05-01", "%Y-%m-%d")`, "the year 0 is out of range (1 to 9999)", true},
		{`return time.parse("12 CET", "%H %Z")`, "UTC, GMT or Z (%Z; use %z for an offset) expected", true},
		{`return time.parse("13 PM", "%I %p")`, "the hour 13 is out of range (1 to 12)", true},
		{`return time.parse("13 PM", "%H %p")`, "46800", false},
		{`return time.parse("PM", "%p")`, "the layout has %p without %I", true},
		{`return time.parse("Foo", "%a")`, "a weekday name (%a) expected", true},
		{`return time.parse("2026-100 05-01", "%Y-%j %m-%d")`, "the day of the year 100 is not 2026-05-01", true},
		{`return time.parse("0000-01-01T00:00:00Z", "rfc3339")`, "is in the year 0, outside 1 to 9999", true},
	})
}

func TestTimeLocal(t *testing.T) {
	L := newState(t, Options{Now: func() time.Time { return fixedClock }})
	got, err := run(L, `return time.format(time.now(), "rfc3339nano", "local")`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + fixedClock.In(time.Local).Format(time.RFC3339Nano) + `"`; got != want {
		t.Errorf("local: got %s, want %s", got, want)
	}
}

// TestTimeNowFollowsTheClock checks that time.now reads Options.Now on each call, with its
// sub-second part.
func TestTimeNowFollowsTheClock(t *testing.T) {
	now := time.Unix(1000, 250000000)
	L := newState(t, Options{Now: func() time.Time { return now }})
	for _, want := range []string{"1000.25", "1001.5"} {
		got, err := run(L, `return time.now()`)
		if err != nil || got != want {
			t.Errorf("time.now() = %s, %v; want %s", got, err, want)
		}
		now = now.Add(1250 * time.Millisecond)
	}
	// Without a clock, time.now is the real time.
	L = newState(t, Options{})
	got, err := run(L, `return time.now()`)
	if err != nil || strings.HasPrefix(got, "0") {
		t.Errorf("time.now() with the default clock = %s, %v", got, err)
	}
}
