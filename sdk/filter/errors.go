package filter

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on what Parse accepts, so that hostile or fuzzed input can neither
// exhaust the stack nor make a single request expensive.
const (
	// MaxLength is the longest filter text Parse accepts, in bytes.
	MaxLength = 64 << 10
	// MaxDepth is the deepest nesting of parentheses, "not" and function
	// calls Parse accepts.
	MaxDepth = 100
)

// ErrInvalid is wrapped by every error Eval returns. Eval fails only for trees
// Parse would never produce (unknown operators, wrong argument counts, a
// Value whose type does not match its Kind, ordering booleans), never because
// of the record's data.
var ErrInvalid = errors.New("filter: invalid expression")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// SyntaxError is the error Parse returns for text that is not a valid filter.
type SyntaxError struct {
	// Pos is the 0-based byte offset in Input where the problem was found.
	Pos int
	// Msg is the full human-readable explanation, e.g.
	// `expected a value after "eq", got end of input`.
	Msg string
	// Expected names briefly what would have been valid at Pos, e.g.
	// "a value" or "')'", for callers that build their own messages.
	Expected string
	// Input is the text given to Parse.
	Input string
}

// Error formats the error as
// `filter: at position 12 (near "foo"): expected ..., got ...`.
func (e *SyntaxError) Error() string {
	if near := e.near(); near != "" {
		return fmt.Sprintf("filter: at position %d (near %q): %s", e.Pos, near, e.Msg)
	}
	return fmt.Sprintf("filter: at position %d: %s", e.Pos, e.Msg)
}

// near returns a short excerpt of Input at Pos, or the tail of Input when
// the problem is at its end, cut on rune boundaries.
func (e *SyntaxError) near() string {
	const span = 20
	in := e.Input
	start := max(0, min(e.Pos, len(in)))
	end := min(len(in), start+span)
	if start == len(in) {
		start = max(0, len(in)-span)
	}
	for start < end && !utf8.RuneStart(in[start]) {
		start++
	}
	for end < len(in) && end > start && !utf8.RuneStart(in[end]) {
		end--
	}
	return strings.TrimSpace(in[start:end])
}

// bail aborts parsing; Parse recovers the *SyntaxError. Panicking keeps the
// recursive-descent code free of error plumbing, as go/parser does.
func bail(input string, pos int, expected, format string, args ...any) {
	panic(&SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...), Expected: expected, Input: input})
}
