package dropbox

import (
	"strings"
	"testing"
)

// FuzzPlace: any path Dropbox might list is placed without panicking, and a
// file placed on a record has an id without "_" or "/".
func FuzzPlace(f *testing.F) {
	for _, s := range []string{"/synchub/account/A_1/x.pdf", "/synchub", "/", "", "/synchub/a/_/x", "/SYNCHUB/ä/ß_1/İ.txt"} {
		f.Add(s, "/synchub")
	}
	f.Fuzz(func(t *testing.T, display, root string) {
		st, err := configure(Config{AccessToken: "t", Root: root}, New().log)
		if err != nil {
			return
		}
		p, _ := st.place(display, strings.ToLower(display))
		if p.file && (p.record.ID == "" || strings.ContainsAny(p.record.ID, "_/")) {
			t.Fatalf("%q placed on %+v", display, p.record)
		}
	})
}

// FuzzCursor: a cursor the host hands back is unwrapped or refused, never
// a panic, and a wrapped cursor comes back unchanged.
func FuzzCursor(f *testing.F) {
	f.Add("dbx1:L3N5bmNodWI:AAEeyJ9")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		st, _ := configure(Config{AccessToken: "t"}, New().log)
		_, _ = st.unwrapCursor(s)
		if s != "" && !strings.Contains(s, "\x00") {
			if got, err := st.unwrapCursor(st.wrapCursor(s)); err != nil || got != s {
				t.Fatalf("round trip of %q: %q, %v", s, got, err)
			}
		}
	})
}
