package bridge

// The JSON scanner of the lazy body (jsonlazy.go): validateJSON checks a text against exactly the
// grammar the decoder accepts, without building anything, and skipValue and friends step over
// values of a text that was validated.

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// strSpecial marks the bytes that end the fast scan of a string: the quote, the backslash and
// the control characters.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scanner validates a JSON text.
type scanner struct {
	data   []byte
	pos    int
	stop   func() error
	next   int        // the position at which stop is called next
	tape   []jsonSpan // the containers, in the order they open
	record bool       // tape is kept
}

// jsonSpan is where a container of a validated text starts and ends (after its closing byte).
type jsonSpan struct{ start, end int32 }

// validateJSON reports whether data is a JSON text the decoder accepts: nil, a *SyntaxError at
// the same offset the decoder would report it, or the error of stop (called every checkEvery
// bytes scanned) wrapped as the decoder wraps it.
func validateJSON(data []byte, stop func() error) error {
	_, err := scanJSON(data, stop, nil)
	return err
}

// scanJSON is validateJSON that also lists the spans of the containers, appended to tape.
// A text of 2 GiB or more gets no tape (its positions do not fit).
func scanJSON(data []byte, stop func() error, tape []jsonSpan) ([]jsonSpan, error) {
	s := scanner{data: data, stop: stop, next: checkEvery, tape: tape, record: tape != nil && len(data) < math.MaxInt32}
	s.skipSpace()
	if err := s.value(0); err != nil {
		return s.tape, err
	}
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.tape, s.errorf("unexpected %q after the value", s.data[s.pos])
	}
	return s.tape, nil
}

// spanEnd returns the end of the container that starts at p, from a tape scanJSON made (-1 if
// it is not there).
func spanEnd(tape []jsonSpan, p int) int {
	i, ok := slices.BinarySearchFunc(tape, int32(p), func(sp jsonSpan, p int32) int { return cmp.Compare(sp.start, p) })
	if !ok {
		return -1
	}
	return int(tape[i].end)
}

func (s *scanner) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: s.pos, Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.errorf("unexpected end of input")
	}
	if s.pos >= s.next {
		s.next = s.pos + checkEvery
		if s.stop != nil {
			if err := s.stop(); err != nil {
				return fmt.Errorf("decoding JSON was stopped: %w", err)
			}
		}
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		if depth >= maxJSONDepth {
			return s.errorf("nested deeper than %d", maxJSONDepth)
		}
		return s.object(depth + 1)
	case c == '[':
		if depth >= maxJSONDepth {
			return s.errorf("nested deeper than %d", maxJSONDepth)
		}
		return s.array(depth + 1)
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.errorf("unexpected %q", c)
	}
}

func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.errorf("invalid literal, expected %s", word)
	}
	s.pos += len(word)
	return nil
}

func (s *scanner) object(depth int) error {
	t := len(s.tape)
	if s.record {
		s.tape = append(s.tape, jsonSpan{start: int32(s.pos)})
	}
	s.pos++ // {
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.close(t)
		return nil
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.errorf("expected a string key")
		}
		if err := s.str(); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.errorf("expected ':' after an object key")
		}
		s.pos++
		s.skipSpace()
		if err := s.value(depth); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end of input in an object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.close(t)
			return nil
		default:
			return s.errorf("expected ',' or '}' in an object")
		}
	}
}

func (s *scanner) array(depth int) error {
	t := len(s.tape)
	if s.record {
		s.tape = append(s.tape, jsonSpan{start: int32(s.pos)})
	}
	s.pos++ // [
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.close(t)
		return nil
	}
	for {
		s.skipSpace()
		if err := s.value(depth); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end of input in an array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.close(t)
			return nil
		default:
			return s.errorf("expected ',' or ']' in an array")
		}
	}
}

// str is decoder.strBytes without the decoded bytes: the same errors at the same offsets.
func (s *scanner) str() error {
	s.pos++ // opening quote
	data := s.data
	for {
		for s.pos < len(data) && !strSpecial[data[s.pos]] {
			s.pos++
		}
		if s.pos >= len(data) {
			return s.errorf("unterminated string")
		}
		switch c := data[s.pos]; {
		case c == '"':
			s.pos++
			return nil
		case c < 0x20:
			return s.errorf("control character in a string")
		}
		// A backslash.
		s.pos++
		if s.pos >= len(data) {
			return s.errorf("unterminated string")
		}
		e := data[s.pos]
		s.pos++
		switch e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			// The decoder checks a second \u after a high surrogate as it checks any \u.
			if len(data)-s.pos < 4 || !isHex(data[s.pos]) || !isHex(data[s.pos+1]) || !isHex(data[s.pos+2]) || !isHex(data[s.pos+3]) {
				return s.errorf("invalid \\u escape")
			}
			s.pos += 4
		default:
			s.pos--
			return s.errorf("invalid escape \\%c", e)
		}
	}
}

func (s *scanner) close(t int) {
	if s.record {
		s.tape[t].end = int32(s.pos)
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// number is decoder.number without the value.
func (s *scanner) number() error {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	digits := func() int {
		n := 0
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	intStart := s.pos
	if digits() == 0 {
		return s.errorf("invalid number")
	}
	if s.data[intStart] == '0' && s.pos-intStart > 1 {
		s.pos = intStart
		return s.errorf("invalid number: leading zero")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return s.errorf("invalid number: no digits after '.'")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return s.errorf("invalid number: no digits in the exponent")
		}
	}
	return nil
}

// The helpers below read a text validateJSON accepted: they do not check it again.

// spaceEnd returns the position of the first byte at or after p that is not white space.
func spaceEnd(data []byte, p int) int {
	for p < len(data) {
		switch data[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}

// stringEnd returns the position after the closing quote of the string that opens at p, and
// whether it has an escape or a byte that is not ASCII (its text is then not its value).
func stringEnd(data []byte, p int) (int, bool) {
	p++
	plain := true
	for {
		c := data[p]
		switch {
		case c == '"':
			return p + 1, !plain
		case c == '\\':
			plain = false
			p += 2
			continue
		case c >= 0x80:
			plain = false
		}
		p++
	}
}

// skipValue returns the position after the value that starts at p (a container's end from tape,
// when there is one).
func skipValue(data []byte, tape []jsonSpan, p int) int {
	switch data[p] {
	case '"':
		end, _ := stringEnd(data, p)
		return end
	case '{', '[':
		if tape != nil {
			if end := spanEnd(tape, p); end >= 0 {
				return end
			}
		}
		depth := 0
		for {
			c := data[p]
			switch c {
			case '"':
				p, _ = stringEnd(data, p)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return p + 1
				}
			}
			p++
		}
	default: // a number or a literal
		for p < len(data) {
			switch data[p] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return p
			}
			p++
		}
		return p
	}
}
