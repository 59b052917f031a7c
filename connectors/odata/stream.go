package odata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNoProperty is returned by PropertyReader when the object lacks the
// property or it is null.
var ErrNoProperty = errors.New("odata: no such property")

// PropertyReader returns a reader over the value of the top-level string
// property name of the JSON object r holds (an entity read with $select),
// unescaped as it is read: a base64 document body of many megabytes is
// streamed, never held in memory. The members before it are skipped (each
// decoded on its own, so they should be small); what follows it is not
// read. Malformed JSON fails with ErrBadBody, from PropertyReader or from
// the returned reader's Read.
func PropertyReader(r io.Reader, name string) (io.Reader, error) {
	rr := &readRecorder{r: r}
	d := &decoder{dec: json.NewDecoder(rr), rr: rr}
	if err := d.expectDelim('{', "the entity"); err != nil {
		return nil, err
	}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, d.fail("the entity", err)
		}
		if key, _ := tok.(string); key == name {
			return startString(bufio.NewReader(io.MultiReader(d.dec.Buffered(), rr)), name)
		}
		var skip json.RawMessage
		if err := d.decode("the entity", &skip); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w %q in the entity", ErrNoProperty, name)
}

// startString consumes `: "` (after the key the decoder read) and returns
// the reader of the string's content.
func startString(br *bufio.Reader, name string) (io.Reader, error) {
	colon := false
	for {
		c, err := br.ReadByte()
		if err != nil {
			return nil, &bodyErr{what: name, err: err, read: err != io.EOF}
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case c == ':' && !colon:
			colon = true
		case c == '"' && colon:
			return &stringReader{br: br, name: name}, nil
		case c == 'n' && colon:
			return nil, fmt.Errorf("%w %q: it is null", ErrNoProperty, name)
		default:
			return nil, &bodyErr{what: name, err: fmt.Errorf("expected a string, found %q", c)}
		}
	}
}

// stringReader yields a JSON string's content, unescaping as it goes, and
// reports io.EOF at the closing quote.
type stringReader struct {
	br   *bufio.Reader
	name string
	done bool
	err  error
	pend []byte // unescaped bytes not yet returned
}

func (s *stringReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.pend) > 0 {
			c := copy(p[n:], s.pend)
			s.pend, n = s.pend[c:], n+c
			continue
		}
		if s.done || s.err != nil {
			break
		}
		if n > 0 && s.br.Buffered() == 0 {
			break // return what we have rather than wait for the network
		}
		if _, err := s.br.Peek(1); err != nil {
			s.err = &bodyErr{what: s.name, err: fmt.Errorf("the string ends early: %w", err), read: err != io.EOF}
			break
		}
		// Copy the run of plain characters up to the next quote or
		// backslash in one go.
		buf, _ := s.br.Peek(s.br.Buffered())
		run := len(buf)
		if i := bytes.IndexByte(buf, '"'); i >= 0 {
			run = i
		}
		if i := bytes.IndexByte(buf[:run], '\\'); i >= 0 {
			run = i
		}
		run = min(run, len(p)-n)
		if run > 0 {
			copy(p[n:], buf[:run])
			_, _ = s.br.Discard(run)
			n += run
			continue
		}
		switch c, _ := s.br.ReadByte(); c {
		case '"':
			s.done = true
		case '\\':
			s.escape()
		}
	}
	switch {
	case n > 0:
		return n, nil
	case s.err != nil:
		return 0, s.err
	case s.done:
		return 0, io.EOF
	}
	return 0, nil
}

// escape reads the escape sequence after a backslash into pend.
func (s *stringReader) escape() {
	c, err := s.br.ReadByte()
	if err != nil {
		s.err = &bodyErr{what: s.name, err: fmt.Errorf("the string ends in an escape: %w", err), read: err != io.EOF}
		return
	}
	switch c {
	case '"', '\\', '/':
		s.pend = append(s.pend, c)
	case 'b':
		s.pend = append(s.pend, '\b')
	case 'f':
		s.pend = append(s.pend, '\f')
	case 'n':
		s.pend = append(s.pend, '\n')
	case 'r':
		s.pend = append(s.pend, '\r')
	case 't':
		s.pend = append(s.pend, '\t')
	case 'u':
		r, ok := s.hex4()
		if !ok {
			return
		}
		if utf16.IsSurrogate(r) {
			// A pair is \uD8xx\uDCxx; a lone half becomes U+FFFD.
			if b, _ := s.br.Peek(2); len(b) == 2 && b[0] == '\\' && b[1] == 'u' {
				_, _ = s.br.Discard(2)
				r2, ok := s.hex4()
				if !ok {
					return
				}
				r = utf16.DecodeRune(r, r2)
			} else {
				r = utf8.RuneError
			}
		}
		s.pend = utf8.AppendRune(s.pend, r)
	default:
		s.err = &bodyErr{what: s.name, err: fmt.Errorf("invalid escape \\%c", c)}
	}
}

func (s *stringReader) hex4() (rune, bool) {
	var h [4]byte
	if _, err := io.ReadFull(s.br, h[:]); err != nil {
		s.err = &bodyErr{what: s.name, err: fmt.Errorf("the string ends in a \\u escape: %w", err), read: err != io.EOF && err != io.ErrUnexpectedEOF}
		return 0, false
	}
	v, err := strconv.ParseUint(string(h[:]), 16, 16)
	if err != nil {
		s.err = &bodyErr{what: s.name, err: fmt.Errorf("invalid \\u escape %q", h[:])}
		return 0, false
	}
	return rune(v), true
}

// decoder walks a response body and classifies its failures.
type decoder struct {
	dec *json.Decoder
	rr  *readRecorder
}

func (d *decoder) decode(what string, v any) error {
	if err := d.dec.Decode(v); err != nil {
		return d.fail(what, err)
	}
	return nil
}

func (d *decoder) expectDelim(want json.Delim, what string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.fail(what, err)
	}
	if dl, ok := tok.(json.Delim); !ok || dl != want {
		return &bodyErr{what: what, err: fmt.Errorf("expected %q, found %v", want, tok)}
	}
	return nil
}

// fail wraps a decoding failure: a read error of the body stays a read
// error, anything else is bad content.
func (d *decoder) fail(what string, err error) error {
	return &bodyErr{what: what, err: err, read: d.rr.err != nil && !errors.Is(d.rr.err, io.EOF)}
}
