package odata

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tidwall/gjson"
)

// scanner reads a JSON response body value by value: the page's members
// and each row of `value` come off the stream as raw JSON, found by a
// structural scan of the buffered bytes and then checked to be valid
// JSON, which is several times quicker than encoding/json's tokenizer on
// the rows that make up nearly all of a page.
type scanner struct {
	br *bufio.Reader
	rr *readRecorder
}

func newScanner(r io.Reader) *scanner {
	rr := &readRecorder{r: r}
	return &scanner{br: bufio.NewReaderSize(rr, 64<<10), rr: rr}
}

// fail wraps a failure: a read error of the body stays a read error,
// anything else is bad content.
func (s *scanner) fail(what string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &bodyErr{what: what, err: err, read: s.rr.err != nil && !errors.Is(s.rr.err, io.EOF)}
}

// peek skips white space and returns the next byte, unread.
func (s *scanner) peek(what string) (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return 0, s.fail(what, err)
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		_ = s.br.UnreadByte()
		return c, nil
	}
}

// expect reads the next byte after white space, which must be one of want.
func (s *scanner) expect(what, want string) (byte, error) {
	c, err := s.peek(what)
	if err != nil {
		return 0, err
	}
	for i := range len(want) {
		if c == want[i] {
			_, _ = s.br.ReadByte()
			return c, nil
		}
	}
	return 0, &bodyErr{what: what, err: fmt.Errorf("expected one of %q, found %q", want, c)}
}

// raw reads the next JSON value as it was sent, checked to be valid JSON.
// The bytes are the caller's.
func (s *scanner) raw(what string) ([]byte, error) {
	first, err := s.peek(what)
	if err != nil {
		return nil, err
	}
	var (
		out      []byte
		depth    int
		inString bool
		escaped  bool
	)
	literal := first != '"' && first != '{' && first != '['
	for {
		if s.br.Buffered() == 0 {
			if _, err := s.br.Peek(1); err != nil {
				if literal && errors.Is(err, io.EOF) && len(out) > 0 {
					break // a literal at the end of the body
				}
				return nil, s.fail(what, err)
			}
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		end := -1
	scan:
		for i, c := range buf {
			switch {
			case inString:
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			case literal:
				switch c {
				case ',', '}', ']', ' ', '\t', '\r', '\n':
					end = i
					break scan
				}
			default:
				switch c {
				case '"':
					inString = true
				case '{', '[':
					depth++
				case '}', ']':
					depth--
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			}
		}
		if end >= 0 {
			out = append(out, buf[:end]...)
			_, _ = s.br.Discard(end)
			break
		}
		out = append(out, buf...)
		_, _ = s.br.Discard(len(buf))
	}
	if !gjson.ValidBytes(out) {
		return nil, &bodyErr{what: what, err: errors.New("malformed JSON")}
	}
	return out, nil
}

// decode reads the next value into v.
func (s *scanner) decode(what string, v any) error {
	b, err := s.raw(what)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &bodyErr{what: what, err: err}
	}
	return nil
}

// members walks an object: member is called with each key, the reader at
// the member's value, which it must read.
func (s *scanner) members(what string, member func(key string) error) error {
	if _, err := s.expect(what, "{"); err != nil {
		return err
	}
	if c, err := s.peek(what); err != nil {
		return err
	} else if c == '}' {
		_, _ = s.br.ReadByte()
		return nil
	}
	for {
		var key string
		if err := s.decode(what, &key); err != nil {
			return err
		}
		if _, err := s.expect(what, ":"); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		c, err := s.expect(what, ",}")
		if err != nil {
			return err
		}
		if c == '}' {
			return nil
		}
	}
}

// elements walks an array, calling elem with the reader at each element,
// which it must read.
func (s *scanner) elements(what string, elem func() error) error {
	if _, err := s.expect(what, "["); err != nil {
		return err
	}
	if c, err := s.peek(what); err != nil {
		return err
	} else if c == ']' {
		_, _ = s.br.ReadByte()
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		c, err := s.expect(what, ",]")
		if err != nil {
			return err
		}
		if c == ']' {
			return nil
		}
	}
}

// readRecorder remembers the error its reader returned.
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil {
		rr.err = err
	}
	return n, err
}
