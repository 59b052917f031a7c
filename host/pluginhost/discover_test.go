package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sumOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crm := write("dynamicscrm", "crm binary", 0o755)
	sf := write("salesforce", "sf binary", 0o755)
	write("README.md", "docs", 0o644)
	write(".hidden", "x", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	notExec := filepath.Join(other, "plain")
	if err := os.WriteFile(notExec, []byte("plain"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(other, "nope")
	wrong := strings.Repeat("ab", 32)

	tests := []struct {
		name     string
		dir      string
		specs    []Spec
		want     []string // names found
		wantErr  []string // parts of the error
		expected map[string]string
	}{
		{name: "scans_the_directory_skipping_docs_hidden_files_and_dirs", dir: dir,
			want: []string{"dynamicscrm", "salesforce"}},
		{name: "accepts_a_matching_checksum_in_any_case_or_prefix", dir: dir,
			specs:    []Spec{{Name: "dynamicscrm", SHA256: "sha256:" + strings.ToUpper(sumOf("crm binary"))}},
			want:     []string{"dynamicscrm", "salesforce"},
			expected: map[string]string{"dynamicscrm": sumOf("crm binary")}},
		{name: "refuses_a_checksum_mismatch_naming_the_file_and_both_sums", dir: dir,
			specs:   []Spec{{Name: "dynamicscrm", SHA256: wrong}},
			want:    []string{"salesforce"},
			wantErr: []string{"plugin dynamicscrm", crm, wrong, sumOf("crm binary"), "checksum mismatch"}},
		{name: "names_a_missing_binary", specs: []Spec{{Name: "nope", Path: missing}},
			wantErr: []string{"plugin nope", missing, "does not exist"}},
		{name: "names_a_binary_that_is_not_executable", specs: []Spec{{Name: "plain", Path: notExec}},
			wantErr: []string{"plugin plain", notExec, "not executable"}},
		{name: "explicit_path_outside_the_directory", dir: dir, specs: []Spec{{Name: "crm2", Path: sf}},
			want: []string{"crm2", "dynamicscrm", "salesforce"}},
		{name: "refuses_a_missing_directory", dir: filepath.Join(other, "bin", "plugins"),
			wantErr: []string{filepath.Join(other, "bin", "plugins"), "does not exist"}},
		{name: "refuses_a_plugin_declared_twice", specs: []Spec{{Name: "a", Path: sf}, {Name: "a", Path: sf}},
			want: []string{"a"}, wantErr: []string{"plugin a is declared twice"}},
		{name: "refuses_a_malformed_checksum", specs: []Spec{{Name: "a", Path: sf, SHA256: "xyz"}},
			wantErr: []string{"plugin a", "not a hex sha256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bins, err := Discover(tt.dir, tt.specs)
			if len(tt.wantErr) > 0 {
				mustContain(t, err, tt.wantErr...)
			} else if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			var names []string
			for _, b := range bins {
				names = append(names, b.Name)
				if !filepath.IsAbs(b.Path) {
					t.Errorf("%s: path %s is not absolute", b.Name, b.Path)
				}
				body, _ := os.ReadFile(b.Path)
				if b.SHA256 != sumOf(string(body)) {
					t.Errorf("%s: SHA256 %s, want %s", b.Name, b.SHA256, sumOf(string(body)))
				}
				if b.ExpectedSHA256 != tt.expected[b.Name] {
					t.Errorf("%s: ExpectedSHA256 %q, want %q", b.Name, b.ExpectedSHA256, tt.expected[b.Name])
				}
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("found %v, want %v", names, tt.want)
			}
		})
	}
}
