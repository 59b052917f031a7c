package odata

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFixtures adds every documented body as a seed.
func seedFixtures(f *testing.F, crlfText bool) {
	names, _ := filepath.Glob(filepath.Join("testdata", "dataverse", "*"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		if crlfText && strings.HasSuffix(n, ".txt") {
			b = crlf(b)
		}
		f.Add(b)
	}
}

// FuzzDecodePage: any body decodes or fails, never panics.
func FuzzDecodePage(f *testing.F) {
	seedFixtures(f, false)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = DecodePage(bytes.NewReader(body), func(Row) error { return nil })
		_ = ParseError(400, body)
		if r, err := PropertyReader(bytes.NewReader(body), "documentbody"); err == nil {
			_, _ = io.Copy(io.Discard, r)
		}
	})
}

// FuzzReadBatch: any multipart answer maps to the requests or fails,
// never panics, and never gives a request no answer.
func FuzzReadBatch(f *testing.F) {
	seedFixtures(f, true)
	f.Fuzz(func(t *testing.T, body []byte) {
		var b Batch
		b.AddChangeSet(BatchRequest{Method: "POST", URL: "/a"}, BatchRequest{Method: "POST", URL: "/b"})
		b.Add(BatchRequest{Method: "GET", URL: "/c"})
		boundary := boundaryOf(body)
		res, err := ReadBatch("multipart/mixed; boundary="+boundary, bytes.NewReader(body), &b)
		if err == nil && len(res) != b.Len() {
			t.Fatalf("%d answers for %d requests", len(res), b.Len())
		}
	})
}
