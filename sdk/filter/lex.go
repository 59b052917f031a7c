package filter

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokLiteral
	tokLParen
	tokRParen
	tokComma
)

// token is one lexeme. Keywords, true/false/null and function names are all
// tokIdent; the parser gives them meaning.
type token struct {
	kind tokKind
	pos  int
	text string
	lit  *Literal // set for tokLiteral
}

// lexer produces tokens on demand, so the first error reported is the first
// one in the text.
type lexer struct {
	src string
	off int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isDelim reports whether c ends a word: a number, date, GUID or name must
// be followed by one of these (or the end of input).
func isDelim(c byte) bool { return isSpace(c) || c == '(' || c == ')' || c == ',' || c == '\'' }

func (lx *lexer) fail(pos int, expected, format string, args ...any) {
	bail(lx.src, pos, expected, format, args...)
}

func (lx *lexer) next() token {
	for lx.off < len(lx.src) && isSpace(lx.src[lx.off]) {
		lx.off++
	}
	start := lx.off
	if start >= len(lx.src) {
		return token{kind: tokEOF, pos: len(lx.src)}
	}
	c := lx.src[start]
	switch {
	case c == '(':
		lx.off++
		return token{kind: tokLParen, pos: start, text: "("}
	case c == ')':
		lx.off++
		return token{kind: tokRParen, pos: start, text: ")"}
	case c == ',':
		lx.off++
		return token{kind: tokComma, pos: start, text: ","}
	case c == '\'':
		return lx.string()
	case isDigit(c) || c == '-':
		return lx.word()
	}
	r, size := utf8.DecodeRuneInString(lx.src[start:])
	if r == '_' || unicode.IsLetter(r) {
		if w := lx.peekWord(); isGUID(w) {
			lx.off += len(w)
			return lx.literal(start, w, KindGUID, strings.ToLower(w))
		}
		return lx.ident()
	}
	if r == utf8.RuneError && size == 1 {
		lx.fail(start, "valid UTF-8", "invalid UTF-8 byte %#x", c)
	}
	hint := ""
	switch c {
	case '=':
		hint = " (comparisons are written eq, ne, gt, ge, lt, le)"
	case '<', '>', '!':
		hint = " (comparisons are written eq, ne, gt, ge, lt, le)"
	case '&', '|':
		hint = " (use and, or)"
	case '"':
		hint = " (strings use single quotes: 'text')"
	}
	lx.fail(start, "a field, value, operator or parenthesis", "unexpected character %q%s", r, hint)
	panic("unreachable")
}

func (lx *lexer) literal(pos int, raw string, kind LiteralKind, v any) token {
	return token{kind: tokLiteral, pos: pos, text: raw, lit: &Literal{Kind: kind, Raw: raw, Value: v, P: pos}}
}

// peekWord returns the text from the current offset up to the next delimiter.
func (lx *lexer) peekWord() string {
	end := lx.off
	for end < len(lx.src) && !isDelim(lx.src[end]) {
		end++
	}
	return lx.src[lx.off:end]
}

// string lexes a single-quoted string; a doubled quote inside stands for one.
func (lx *lexer) string() token {
	start := lx.off
	i := start + 1
	var b strings.Builder
	plain := true // no doubled quotes: the value is a substring, no copy needed
	for {
		j := strings.IndexByte(lx.src[i:], '\'')
		if j < 0 {
			lx.fail(start, "a closing quote",
				"unterminated string starting at position %d; expected a closing ' (write '' for a quote inside a string)", start)
		}
		j += i
		if j+1 < len(lx.src) && lx.src[j+1] == '\'' {
			if plain {
				plain = false
				b.WriteString(lx.src[start+1 : i])
			}
			b.WriteString(lx.src[i : j+1])
			i = j + 2
			continue
		}
		lx.off = j + 1
		raw := lx.src[start:lx.off]
		if plain {
			return lx.literal(start, raw, KindString, lx.src[start+1:j])
		}
		b.WriteString(lx.src[i:j])
		return lx.literal(start, raw, KindString, b.String())
	}
}

// ident lexes a keyword, function name or field path.
func (lx *lexer) ident() token {
	start := lx.off
	for lx.off < len(lx.src) {
		r, size := utf8.DecodeRuneInString(lx.src[lx.off:])
		if r != '_' && r != '/' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		lx.off += size
	}
	name := lx.src[start:lx.off]
	if lx.off < len(lx.src) && !isDelim(lx.src[lx.off]) {
		r, _ := utf8.DecodeRuneInString(lx.src[lx.off:])
		lx.fail(lx.off, "a space, parenthesis or comma",
			"unexpected character %q after %q; names may contain letters, digits, '_' and '/'", r, name)
	}
	for seg := range strings.SplitSeq(name, "/") {
		r, _ := utf8.DecodeRuneInString(seg)
		if seg == "" || (r != '_' && !unicode.IsLetter(r)) {
			lx.fail(start, "a field path like Account/Name",
				"invalid field path %q; each '/'-separated segment must start with a letter or '_'", name)
		}
	}
	return token{kind: tokIdent, pos: start, text: name}
}

// word lexes a token that starts with a digit or '-': a number, date,
// datetime or GUID. The whole word up to the next delimiter must be one of
// them, so "1and" or "2024-05-01x" are reported as a whole.
func (lx *lexer) word() token {
	start := lx.off
	w := lx.peekWord()
	if w[0] == '-' && (len(w) == 1 || !isDigit(w[1])) {
		lx.fail(start, "a number", "unexpected '-'; expected a digit after a minus sign")
	}
	lx.off += len(w)
	switch {
	case isGUID(w):
		return lx.literal(start, w, KindGUID, strings.ToLower(w))
	case isDatePrefix(w) && len(w) == 10:
		t, err := time.Parse(time.DateOnly, w)
		if err != nil {
			lx.fail(start, "a date like 2024-05-01", "invalid date %q%s", w, parseDetail(err))
		}
		return lx.literal(start, w, KindDate, t)
	case isDatePrefix(w) && w[10] == 'T':
		t, err := parseDateTime(w)
		if err != nil {
			detail := parseDetail(err)
			if !strings.ContainsAny(w[10:], "Z+-") {
				detail = " (no time-zone offset; add Z or ±hh:mm)"
			}
			lx.fail(start, "a datetime like 2024-05-01T00:00:00Z",
				"invalid datetime %q%s; expected a datetime like 2024-05-01T00:00:00Z or 2024-05-01T08:30:00.5+02:00", w, detail)
		}
		return lx.literal(start, w, KindDateTime, t)
	case isDatePrefix(w):
		lx.fail(start, "a date like 2024-05-01 or a datetime like 2024-05-01T00:00:00Z",
			"invalid date or datetime %q; expected 2024-05-01 or 2024-05-01T00:00:00Z", w)
	}
	isInt, ok := numberShape(w)
	if !ok {
		lx.fail(start, "a number, date, datetime or GUID",
			"invalid number %q; expected a number like 42, -1.5 or 2e10, a date, a datetime or a GUID", w)
	}
	if isInt {
		if i, err := strconv.ParseInt(w, 10, 64); err == nil {
			return lx.literal(start, w, KindInt, i)
		}
		// Too large for int64: OData treats it as a decimal.
	}
	f, err := strconv.ParseFloat(w, 64)
	if err != nil || math.IsInf(f, 0) {
		lx.fail(start, "a number within float64 range", "number %q is out of range", w)
	}
	return lx.literal(start, w, KindDecimal, f)
}

// parseDetail extracts the short reason ("month out of range") from a time
// parse error, if it has one.
func parseDetail(err error) string {
	var pe *time.ParseError
	if errors.As(err, &pe) && pe.Message != "" {
		return " (" + strings.TrimPrefix(pe.Message, ": ") + ")"
	}
	return ""
}

// parseDateTime accepts RFC 3339 with an optional fraction, and the OData
// form without seconds (2024-05-01T08:30Z).
func parseDateTime(w string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, w)
	if err == nil {
		return t, nil
	}
	if t2, err2 := time.Parse("2006-01-02T15:04Z07:00", w); err2 == nil {
		return t2, nil
	}
	return time.Time{}, err
}

// numberShape checks w against -?digits(.digits)?([eE][+-]?digits)? and
// reports whether it is an integer.
func numberShape(w string) (isInt, ok bool) {
	i := 0
	if i < len(w) && w[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(w) && isDigit(w[i]) {
			i++
		}
		return i > s
	}
	if !digits() {
		return false, false
	}
	isInt = true
	if i < len(w) && w[i] == '.' {
		i++
		isInt = false
		if !digits() {
			return false, false
		}
	}
	if i < len(w) && (w[i] == 'e' || w[i] == 'E') {
		i++
		isInt = false
		if i < len(w) && (w[i] == '+' || w[i] == '-') {
			i++
		}
		if !digits() {
			return false, false
		}
	}
	return isInt, i == len(w)
}

func isDatePrefix(w string) bool {
	if len(w) < 10 || w[4] != '-' || w[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isDigit(w[i]) {
			return false
		}
	}
	return true
}

// isGUID checks the 8-4-4-4-12 hex shape.
func isGUID(w string) bool {
	if len(w) != 36 {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !isDigit(c) && !('a' <= c && c <= 'f') && !('A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
