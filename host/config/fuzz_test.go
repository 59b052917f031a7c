package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that a failure is
// always a *DiagError. Run it with go test -fuzz=FuzzParse ./host/config/.
func FuzzParse(f *testing.F) {
	for _, tt := range errorCases {
		f.Add([]byte(tt.src))
	}
	for _, name := range []string{"testdata/full.hcl", "../../configs/example-dynamicscrm.hcl", "../../configs/empty.hcl"} {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	// file() resolves against the config's directory: keep it in a
	// directory the fuzzer cannot hurt.
	filename := filepath.Join(f.TempDir(), "fuzz.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse(src, filename)
		switch {
		case err == nil && cfg == nil:
			t.Fatal("nil config without an error")
		case err != nil:
			if _, ok := err.(*DiagError); !ok {
				t.Fatalf("got %T, want *DiagError", err)
			}
			_ = err.Error()
		}
	})
}
