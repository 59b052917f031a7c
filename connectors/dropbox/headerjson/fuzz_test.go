package headerjson

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzMarshal: any string survives the header-safe encoding unchanged and
// the result is always header-safe.
func FuzzMarshal(f *testing.F) {
	for _, s := range []string{"", "/a.txt", "/Prüfung 😀.pdf", "\x7f", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Marshal(map[string]string{"path": s})
		if err != nil {
			t.Fatal(err)
		}
		if !Safe(got) {
			t.Fatalf("%q is not header-safe", got)
		}
		var back map[string]string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatalf("%q does not decode: %v", got, err)
		}
		if utf8.ValidString(s) && back["path"] != s {
			t.Fatalf("%q came back as %q", s, back["path"])
		}
	})
}
