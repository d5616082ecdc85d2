package modules

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The time module: the clock (Options.Now) as seconds since the epoch, and times formatted and
// parsed with RFC 3339 or strftime-style layouts, in UTC, the process's zone, a fixed offset or
// a zone of the zone database. strftime layouts are read here, directive by directive, in both
// directions (Go's own layouts are not exposed); a layout is at most maxLayout bytes, so its
// output is small.

const (
	// maxLayout bounds a layout's length, as os.date's format is bounded in the sandbox.
	maxLayout = 256
	// minSeconds and maxSeconds are 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
	minSeconds = -62135596800
	maxSeconds = 253402300799
	// maxZones bounds the cache of zones loaded by name.
	maxZones = 64
)

const directives = "%Y %m %d %H %M %S %y %b %B %a %A %j %p %I %Z %z %s %f %F %T %%"

func (m *lib) openTime(L *lua.LState) *lua.LTable {
	return m.register(L, "time", map[string]fn{
		"now": func(a args) int {
			t := a.m.o.Now()
			a.L.Push(lua.LNumber(float64(t.Unix()) + float64(t.Nanosecond())/1e9))
			return 1
		},
		"format": timeFormat,
		"parse":  timeParse,
	})
}

// seconds is t as a script sees it.
func seconds(t time.Time) lua.LNumber {
	return lua.LNumber(float64(t.Unix()) + float64(t.Nanosecond())/1e9)
}

// timeArg reads argument n, seconds since the epoch, as a time taken to the microsecond.
func (a args) timeArg(n int) time.Time {
	f := a.num(n)
	if math.IsNaN(f) || f < minSeconds || f >= maxSeconds+1 {
		a.argError(n, "a time in seconds between %d (the year 1) and %d (the year 9999) expected, got %s", minSeconds, maxSeconds, lua.LNumber(f).String())
	}
	sec := math.Floor(f)
	us := math.Round((f - sec) * 1e6)
	if us >= 1e6 {
		sec, us = sec+1, 0
	}
	return time.Unix(int64(sec), int64(us)*1000)
}

// layoutArg reads argument n, a layout; rfc is "rfc3339" or "rfc3339nano" for those.
func (a args) layoutArg(n int) (layout string, rfc string) {
	layout = a.str(n)
	if len(layout) > maxLayout {
		a.limit("the layout is %d bytes, more than the limit of %d", len(layout), maxLayout)
	}
	switch {
	case strings.EqualFold(layout, "rfc3339"):
		return layout, "rfc3339"
	case strings.EqualFold(layout, "rfc3339nano"):
		return layout, "rfc3339nano"
	case strings.IndexByte(layout, '%') < 0:
		a.argError(n, `the layout %q has no %% directive: "rfc3339", "rfc3339nano" or a strftime layout like "%%Y-%%m-%%d %%H:%%M:%%S" expected`, layout)
	}
	return layout, ""
}

// zones caches the zones loaded by name, and the names that failed.
var zones struct {
	sync.Mutex
	m map[string]zoneEntry
}

type zoneEntry struct {
	loc *time.Location
	err error
}

// zoneArg reads argument n, a zone: "UTC" (the default), "local", an offset or a zone name.
func (a args) zoneArg(n int) *time.Location {
	name := a.optStr(n, "UTC")
	switch {
	case name == "UTC" || name == "utc" || name == "Z" || name == "GMT":
		return time.UTC
	case name == "local":
		return time.Local
	case name != "" && (name[0] == '+' || name[0] == '-'):
		off, ok := parseOffset(name)
		if !ok {
			a.argError(n, `an offset like "+02:00", "-0530" or "+02" expected, got %q`, name)
		}
		if off == 0 {
			return time.UTC
		}
		return time.FixedZone("", off)
	}
	loc, err := loadZone(name)
	if err != nil {
		a.argError(n, `unknown time zone %q: "UTC", "local", an offset like "+02:00" or a name of the zone database expected (%v)`, name, err)
	}
	return loc
}

var errZoneName = errors.New("not a zone name")

// loadZone loads a zone of the zone database by name, through a small cache.
func loadZone(name string) (*time.Location, error) {
	if len(name) > 64 || strings.Contains(name, "..") || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != "" || name == "" {
		return nil, errZoneName
	}
	zones.Lock()
	defer zones.Unlock()
	if e, ok := zones.m[name]; ok {
		return e.loc, e.err
	}
	loc, err := time.LoadLocation(name)
	if zones.m == nil || len(zones.m) >= maxZones {
		zones.m = map[string]zoneEntry{}
	}
	zones.m[name] = zoneEntry{loc, err}
	return loc, err
}

// parseOffset reads "+hh:mm", "+hhmm" or "+hh" (or "-"), hh at most 23 and mm at most 59.
func parseOffset(s string) (int, bool) {
	if len(s) < 3 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	digits := s[1:]
	if len(digits) == 5 && digits[2] == ':' {
		digits = digits[:2] + digits[3:]
	}
	if len(digits) != 2 && len(digits) != 4 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	h := int(digits[0]-'0')*10 + int(digits[1]-'0')
	mm := 0
	if len(digits) == 4 {
		mm = int(digits[2]-'0')*10 + int(digits[3]-'0')
	}
	if h > 23 || mm > 59 {
		return 0, false
	}
	off := h*3600 + mm*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

// timeFormat is time.format(t, layout [, tz]).
func timeFormat(a args) int {
	t := a.timeArg(1)
	layout, rfc := a.layoutArg(2)
	t = t.In(a.zoneArg(3))
	var out []byte
	switch rfc {
	case "rfc3339":
		out = t.AppendFormat(nil, time.RFC3339)
	case "rfc3339nano":
		out = t.AppendFormat(nil, time.RFC3339Nano)
	default:
		out = a.strftime(t, layout)
	}
	a.checkSize(len(out))
	a.L.Push(lua.LString(stringOf(out)))
	return 1
}

// appendInt appends n with at least width digits.
func appendInt(b []byte, n, width int) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(n), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func appendOffset(b []byte, off int, colon bool) []byte {
	if off < 0 {
		b = append(b, '-')
		off = -off
	} else {
		b = append(b, '+')
	}
	b = appendInt(b, off/3600, 2)
	if colon {
		b = append(b, ':')
	}
	return appendInt(b, off%3600/60, 2)
}

// strftime formats t with a strftime-style layout.
func (a args) strftime(t time.Time, layout string) []byte {
	b := make([]byte, 0, 2*len(layout))
	for i := 0; i < len(layout); i++ {
		c := layout[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		i++
		if i == len(layout) {
			a.argError(2, "the layout ends with a lone %%")
		}
		switch layout[i] {
		case 'Y':
			b = appendInt(b, t.Year(), 4)
		case 'm':
			b = appendInt(b, int(t.Month()), 2)
		case 'd':
			b = appendInt(b, t.Day(), 2)
		case 'H':
			b = appendInt(b, t.Hour(), 2)
		case 'M':
			b = appendInt(b, t.Minute(), 2)
		case 'S':
			b = appendInt(b, t.Second(), 2)
		case 'y':
			b = appendInt(b, t.Year()%100, 2)
		case 'b':
			b = append(b, t.Month().String()[:3]...)
		case 'B':
			b = append(b, t.Month().String()...)
		case 'a':
			b = append(b, t.Weekday().String()[:3]...)
		case 'A':
			b = append(b, t.Weekday().String()...)
		case 'j':
			b = appendInt(b, t.YearDay(), 3)
		case 'p':
			if t.Hour() < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		case 'I':
			b = appendInt(b, (t.Hour()+11)%12+1, 2)
		case 'Z':
			name, off := t.Zone()
			if name == "" {
				b = appendOffset(b, off, false)
			} else {
				b = append(b, name...)
			}
		case 'z':
			_, off := t.Zone()
			b = appendOffset(b, off, false)
		case 's':
			b = strconv.AppendInt(b, t.Unix(), 10)
		case 'f':
			b = appendInt(b, t.Nanosecond()/1000, 6)
		case 'F':
			b = appendInt(b, t.Year(), 4)
			b = append(b, '-')
			b = appendInt(b, int(t.Month()), 2)
			b = append(b, '-')
			b = appendInt(b, t.Day(), 2)
		case 'T':
			b = appendInt(b, t.Hour(), 2)
			b = append(b, ':')
			b = appendInt(b, t.Minute(), 2)
			b = append(b, ':')
			b = appendInt(b, t.Second(), 2)
		case '%':
			b = append(b, '%')
		default:
			a.unknownDirective(layout, i)
		}
	}
	return b
}

func (a args) unknownDirective(layout string, i int) {
	d := layout[i:]
	if len(d) > 0 {
		d = string(layout[i])
	}
	a.argError(2, "unknown directive %%%s at byte %d of the layout; supported: %s", d, i-1, directives)
}

// timeParse is time.parse(s, layout [, tz]).
func timeParse(a args) int {
	s := a.str(1)
	layout, rfc := a.layoutArg(2)
	loc := a.zoneArg(3)
	var t time.Time
	if rfc != "" {
		var err error
		t, err = time.Parse(time.RFC3339, s)
		if err != nil {
			msg := err.Error()
			var pe *time.ParseError
			if errors.As(err, &pe) {
				msg = pe.Message
				if msg == "" {
					msg = "cannot parse " + strconv.Quote(pe.ValueElem)
				} else {
					msg = strings.TrimPrefix(msg, ": ")
				}
			}
			a.fail(`%q is not an RFC 3339 time like "2006-01-02T15:04:05Z" or "2006-01-02T15:04:05.5+01:00": %s`, s, msg)
		}
	} else {
		t = a.strptime(s, layout, loc)
	}
	if y := t.Year(); y < 1 || y > 9999 {
		a.fail("%q is in the year %d, outside 1 to 9999", s, y)
	}
	a.L.Push(seconds(t))
	return 1
}

// clock holds the fields strptime has read.
type clock struct {
	year, month, day, yday int
	hour, hour12, min, sec int
	nsec                   int
	pm, hasPM              bool
	hasHour12, hasYday     bool
	hasMonth, hasDay       bool
	unix                   int64
	hasUnix                bool
	offset                 int
	hasOffset              bool
	hasHour                bool
}

// strptime parses s with a strftime-style layout; loc is the zone when s has no offset.
func (a args) strptime(s, layout string, loc *time.Location) time.Time {
	c := clock{year: 1970, month: 1, day: 1}
	pos := 0
	bad := func(what string) {
		a.fail("%q does not match the layout %q at byte %d: %s expected", s, layout, pos, what)
	}
	digits := func(n int, what string) int {
		if pos+n > len(s) {
			bad(what)
		}
		v := 0
		for j := pos; j < pos+n; j++ {
			if s[j] < '0' || s[j] > '9' {
				bad(what)
			}
			v = v*10 + int(s[j]-'0')
		}
		pos += n
		return v
	}
	name := func(names []string, what string) int {
		for i, full := range names {
			for _, form := range []string{full, full[:3]} {
				if len(s)-pos >= len(form) && strings.EqualFold(s[pos:pos+len(form)], form) {
					pos += len(form)
					return i
				}
			}
		}
		bad(what)
		return 0
	}
	for i := 0; i < len(layout); i++ {
		ch := layout[i]
		if ch != '%' {
			if pos >= len(s) || s[pos] != ch {
				bad(strconv.Quote(string(ch)))
			}
			pos++
			continue
		}
		i++
		if i == len(layout) {
			a.argError(2, "the layout ends with a lone %%")
		}
		switch layout[i] {
		case 'Y':
			c.year = digits(4, "a four-digit year (%Y)")
		case 'y':
			y := digits(2, "a two-digit year (%y)")
			if y < 69 {
				c.year = 2000 + y
			} else {
				c.year = 1900 + y
			}
		case 'm':
			c.month, c.hasMonth = digits(2, "a two-digit month (%m)"), true
		case 'd':
			c.day, c.hasDay = digits(2, "a two-digit day (%d)"), true
		case 'H':
			c.hour, c.hasHour = digits(2, "a two-digit hour (%H)"), true
		case 'I':
			c.hour12, c.hasHour12 = digits(2, "a two-digit hour (%I)"), true
		case 'M':
			c.min = digits(2, "two-digit minutes (%M)")
		case 'S':
			c.sec = digits(2, "two-digit seconds (%S)")
		case 'j':
			c.yday, c.hasYday = digits(3, "a three-digit day of the year (%j)"), true
		case 'b', 'B':
			c.month, c.hasMonth = name(monthNames, "a month name (%"+string(layout[i])+")")+1, true
		case 'a', 'A':
			name(dayNames, "a weekday name (%"+string(layout[i])+")")
		case 'p':
			switch {
			case len(s)-pos >= 2 && strings.EqualFold(s[pos:pos+2], "AM"):
			case len(s)-pos >= 2 && strings.EqualFold(s[pos:pos+2], "PM"):
				c.pm = true
			default:
				bad("AM or PM (%p)")
			}
			c.hasPM = true
			pos += 2
		case 'f':
			start := pos
			for pos < len(s) && pos-start < 9 && s[pos] >= '0' && s[pos] <= '9' {
				pos++
			}
			if pos == start {
				bad("a fraction of a second (%f)")
			}
			frac := s[start:pos] + strings.Repeat("0", 9-(pos-start))
			c.nsec, _ = strconv.Atoi(frac)
		case 's':
			start := pos
			if pos < len(s) && s[pos] == '-' {
				pos++
			}
			for pos < len(s) && pos-start < 13 && s[pos] >= '0' && s[pos] <= '9' {
				pos++
			}
			n, err := strconv.ParseInt(s[start:pos], 10, 64)
			if err != nil || n < minSeconds || n > maxSeconds {
				pos = start
				bad("seconds since the epoch (%s)")
			}
			c.unix, c.hasUnix = n, true
		case 'z':
			if pos < len(s) && (s[pos] == 'Z' || s[pos] == 'z') {
				pos++
				c.offset, c.hasOffset = 0, true
				break
			}
			end := pos + 1
			for end < len(s) && end-pos < 6 && (s[end] >= '0' && s[end] <= '9' || s[end] == ':') {
				end++
			}
			off, ok := parseOffset(s[pos:end])
			if !ok {
				bad("an offset like +0200, +02:00 or Z (%z)")
			}
			pos = end
			c.offset, c.hasOffset = off, true
		case 'Z':
			matched := false
			for _, z := range []string{"UTC", "GMT", "Z"} {
				if len(s)-pos >= len(z) && strings.EqualFold(s[pos:pos+len(z)], z) {
					pos += len(z)
					matched = true
					break
				}
			}
			if !matched {
				bad("UTC, GMT or Z (%Z; use %z for an offset)")
			}
			c.offset, c.hasOffset = 0, true
		case 'F':
			c.year = digits(4, "a four-digit year (%F)")
			lit(&pos, s, '-', bad)
			c.month, c.hasMonth = digits(2, "a two-digit month (%F)"), true
			lit(&pos, s, '-', bad)
			c.day, c.hasDay = digits(2, "a two-digit day (%F)"), true
		case 'T':
			c.hour, c.hasHour = digits(2, "a two-digit hour (%T)"), true
			lit(&pos, s, ':', bad)
			c.min = digits(2, "two-digit minutes (%T)")
			lit(&pos, s, ':', bad)
			c.sec = digits(2, "two-digit seconds (%T)")
		case '%':
			if pos >= len(s) || s[pos] != '%' {
				bad(`"%"`)
			}
			pos++
		default:
			a.unknownDirective(layout, i)
		}
	}
	if pos != len(s) {
		a.fail("%q does not match the layout %q: extra text at byte %d", s, layout, pos)
	}
	return a.clockTime(s, &c, loc)
}

func lit(pos *int, s string, ch byte, bad func(string)) {
	if *pos >= len(s) || s[*pos] != ch {
		bad(strconv.Quote(string(ch)))
	}
	*pos++
}

var (
	monthNames = []string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	dayNames = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// clockTime checks the fields strptime read and makes the time.
func (a args) clockTime(s string, c *clock, loc *time.Location) time.Time {
	if c.hasUnix {
		return time.Unix(c.unix, int64(c.nsec))
	}
	out := func(what string, v, lo, hi int) {
		if v < lo || v > hi {
			a.fail("%q: the %s %d is out of range (%d to %d)", s, what, v, lo, hi)
		}
	}
	out("year", c.year, 1, 9999)
	out("month", c.month, 1, 12)
	if c.hasHour12 {
		out("hour", c.hour12, 1, 12)
		if !c.hasHour {
			c.hour = c.hour12 % 12
			if c.pm {
				c.hour += 12
			}
		}
	} else if c.hasPM && !c.hasHour {
		a.fail("%q: the layout has %%p without %%I (%%p goes with a 12-hour clock)", s)
	}
	out("hour", c.hour, 0, 23)
	out("minute", c.min, 0, 59)
	out("second", c.sec, 0, 59)
	if c.hasYday {
		days := time.Date(c.year, 12, 31, 0, 0, 0, 0, time.UTC).YearDay()
		out("day of the year", c.yday, 1, days)
		d := time.Date(c.year, 1, c.yday, 0, 0, 0, 0, time.UTC)
		if !c.hasMonth && !c.hasDay {
			c.month, c.day = int(d.Month()), d.Day()
		} else if int(d.Month()) != c.month || d.Day() != c.day {
			a.fail("%q: the day of the year %d is not %04d-%02d-%02d", s, c.yday, c.year, c.month, c.day)
		}
	}
	out("day", c.day, 1, time.Date(c.year, time.Month(c.month)+1, 0, 0, 0, 0, 0, time.UTC).Day())
	if c.hasOffset {
		if c.offset == 0 {
			loc = time.UTC
		} else {
			loc = time.FixedZone("", c.offset)
		}
	}
	return time.Date(c.year, time.Month(c.month), c.day, c.hour, c.min, c.sec, c.nsec, loc)
}
