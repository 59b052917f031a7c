package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// secret marks every value that env() or file() produced. The mark travels
// through templates, objects and conditionals, so the decoder knows not to
// quote such a value in an error message.
type secret struct{}

// maxFileBytes caps file(): it reads secrets and certificates, not data,
// and an unbounded read of a device or a huge file must not hang the hub.
const maxFileBytes = 1 << 20

// evalContext is the only context expressions are evaluated in: the two
// functions and no variables.
func evalContext(baseDir string, lookupEnv func(string) (string, bool)) *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env":  envFunc(lookupEnv),
			"file": fileFunc(baseDir),
		},
	}
}

func envFunc(lookupEnv func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, errors.New(`env takes a variable name and at most one default, as env("NAME") or env("NAME", "default")`)
			}
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, errors.New("the environment variable name is empty")
			}
			if v, ok := lookupEnv(name); ok {
				return cty.StringVal(v).Mark(secret{}), nil
			}
			if len(args) == 2 {
				return args[1].Mark(secret{}), nil
			}
			return cty.NilVal, fmt.Errorf("environment variable %s is not set; set it, or write env(%q, \"default\") to make it optional", name, name)
		},
	})
}

func fileFunc(baseDir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a text file, relative to the config file's directory, without trailing newlines.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, errors.New("the file path is empty")
			}
			s, err := readTextFile(resolvePath(baseDir, name))
			if err != nil {
				return cty.NilVal, fmt.Errorf("file %q: %w", name, err)
			}
			return cty.StringVal(s).Mark(secret{}), nil
		},
	})
}

// readTextFile reads a small regular UTF-8 file. Its errors never quote the
// contents.
func readTextFile(path string) (string, error) {
	// Stat before opening: opening a FIFO or a device can block.
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("no such file (looked at %s)", path)
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("permission denied (reading %s)", path)
	case err != nil:
		return "", err
	case !info.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file", path)
	case info.Size() > maxFileBytes:
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%s is not UTF-8 text", path)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// resolvePath makes a relative path relative to the config file's
// directory; absolute paths stay as written.
func resolvePath(baseDir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}
