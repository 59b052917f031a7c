package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Spec is one `plugin "name" { path, sha256 }` block of the config.
type Spec struct {
	// Name is the plugin's name, which sources refer to.
	Name string
	// Path is the binary. "" means the file named Name in the plugin
	// directory. A relative path is taken from the working directory.
	Path string
	// SHA256 is the binary's expected checksum in hex ("" = not pinned).
	SHA256 string
}

// Binary is a plugin executable found and verified by Discover.
type Binary struct {
	Name string
	// Path is absolute.
	Path string
	// SHA256 is the checksum of the file as Discover read it. Every launch
	// checks the file against it again, so a binary swapped after discovery
	// is refused.
	SHA256 string
	// ExpectedSHA256 is the checksum the config gave ("" = not pinned).
	ExpectedSHA256 string
}

// Discover lists the plugin binaries of dir and of the explicit specs, sorted
// by name, and verifies each: it exists, is an executable file, and matches
// the checksum its spec gives.
//
// Every regular file of dir is a plugin named after the file (without an
// ".exe" suffix); hidden files, directories and files with any other
// extension (README.md, plugins.lock) are skipped. dir "" scans nothing; a
// dir that does not exist is an error. A spec overrides the file of the same
// name in dir and may point anywhere.
//
// Problems are reported together (errors.Join), each naming the plugin and
// the file; the binaries that passed are returned alongside, so a caller may
// run the sources whose plugins are fine. A binary that failed verification
// is never returned.
func Discover(dir string, explicit []Spec) ([]Binary, error) {
	specs := map[string]Spec{}
	var errs []error
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("plugin directory %s does not exist (build the plugins first, e.g. make plugins)", dir)
			}
			return nil, fmt.Errorf("plugin directory %s: %w", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || e.IsDir() {
				continue
			}
			name = strings.TrimSuffix(name, ".exe")
			if strings.Contains(name, ".") {
				continue
			}
			specs[name] = Spec{Name: name, Path: filepath.Join(dir, e.Name())}
		}
	}
	seen := map[string]bool{}
	for _, s := range explicit {
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("plugin block without a name (path %q)", s.Path))
			continue
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("plugin %s is declared twice", s.Name))
			continue
		}
		seen[s.Name] = true
		if s.Path == "" {
			if dir == "" {
				errs = append(errs, fmt.Errorf("plugin %s: no path given and no plugin directory to look in", s.Name))
				continue
			}
			s.Path = filepath.Join(dir, s.Name)
		}
		specs[s.Name] = s
	}

	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	sort.Strings(names)
	var bins []Binary
	for _, name := range names {
		b, err := verify(specs[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		bins = append(bins, b)
	}
	return bins, errors.Join(errs...)
}

// verify checks one spec's file and computes its checksum.
func verify(s Spec) (Binary, error) {
	path, err := filepath.Abs(s.Path)
	if err != nil {
		return Binary{}, fmt.Errorf("plugin %s: path %s: %w", s.Name, s.Path, err)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Binary{}, fmt.Errorf("plugin %s: %s does not exist", s.Name, path)
	case err != nil:
		return Binary{}, fmt.Errorf("plugin %s: %w", s.Name, err)
	case !fi.Mode().IsRegular():
		return Binary{}, fmt.Errorf("plugin %s: %s is not a regular file", s.Name, path)
	case fi.Mode().Perm()&0o111 == 0:
		return Binary{}, fmt.Errorf("plugin %s: %s is not executable (chmod +x it)", s.Name, path)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return Binary{}, fmt.Errorf("plugin %s: %w", s.Name, err)
	}
	b := Binary{Name: s.Name, Path: path, SHA256: sum}
	if s.SHA256 != "" {
		want := normalizeSum(s.SHA256)
		if _, err := hex.DecodeString(want); err != nil || len(want) != sha256.Size*2 {
			return Binary{}, fmt.Errorf("plugin %s: sha256 %q is not a hex sha256 checksum", s.Name, s.SHA256)
		}
		if want != sum {
			return Binary{}, checksumError(s.Name, path, want, sum)
		}
		b.ExpectedSHA256 = want
	}
	return b, nil
}

func checksumError(name, path, want, got string) error {
	return fmt.Errorf("plugin %s: checksum mismatch for %s: the config expects sha256 %s, the file has %s; refusing to run it",
		name, path, want, got)
}

// normalizeSum accepts "sha256:<hex>" and upper case hex.
func normalizeSum(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
