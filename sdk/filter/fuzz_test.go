package filter

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that every failure is a
// *SyntaxError pointing inside the input, and that every success formats to
// text that parses back to the same tree and the same text. Plain `go test`
// runs only the seeds; fuzz with
//
//	go test -fuzz=FuzzParse -fuzztime=60s ./sdk/filter/
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	for _, tc := range syntaxErrorCases {
		if len(tc.in) < 1024 {
			f.Add(tc.in)
		}
	}
	for _, tc := range evalCases {
		f.Add(tc.filter)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := Parse(in)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T is not a *SyntaxError", in, err)
			}
			if se.Pos < 0 || se.Pos > len(in) || se.Msg == "" || se.Expected == "" {
				t.Fatalf("Parse(%q): malformed error %+v", in, se)
			}
			_ = se.Error()
			return
		}
		if e == nil {
			return
		}
		text := String(e)
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", in, text, err)
		}
		if d := diffExpr(e, again, false); d != "" {
			t.Fatalf("Parse(%q) and Parse(String = %q) differ: %s", in, text, d)
		}
		if got := String(again); got != text {
			t.Fatalf("String not stable for %q: %q then %q", in, text, got)
		}
		// A parsed tree is structurally valid, so Eval may only say yes or no.
		if _, err := Eval(e, record); err != nil {
			t.Fatalf("Eval(Parse(%q)): %v", in, err)
		}
		_ = Fields(e)
	})
}
