package pluginhost

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Binaries built once per test run by TestMain.
var (
	chaosBin     Binary // plugins/chaos
	protocol2Bin Binary // testdata/protocol2: offers protocol 2 only
	describe2Bin Binary // the same, passing the handshake as 1 but describing itself as 2
	noisyBin     Binary // a script that prints to stdout, then execs chaos
	junkBin      Binary // a script that prints junk and exits
)

// secretEnv is set in the test process; plugins must not see it.
const secretEnv = "SYNCHUB_TEST_SECRET"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildPlugins(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build test plugins:", err)
	} else {
		os.Setenv(secretEnv, "hunter2")
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildPlugins builds the test plugins and writes the test scripts. The
// scripts are written here, before any test starts a process, because a
// file being written while another goroutine forks cannot be executed
// (ETXTBSY).
func buildPlugins(dir string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	cmd := exec.Command(gobin, "build", "-o", dir+string(filepath.Separator), "../../plugins/chaos", "./testdata/protocol2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "protocol2"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "describe2"), raw, 0o755); err != nil {
		return err
	}
	scripts := map[string]string{
		"noisy": "#!/bin/sh\necho 'connector starting up...'\nexec " + filepath.Join(dir, "chaos") + "\n",
		"junk":  "#!/bin/sh\necho 'hello, I am not a plugin'\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	bins, err := Discover(dir, nil)
	if err != nil {
		return err
	}
	for _, b := range bins {
		switch b.Name {
		case "chaos":
			chaosBin = b
		case "protocol2":
			protocol2Bin = b
		case "describe2":
			describe2Bin = b
		case "noisy":
			noisyBin = b
		case "junk":
			junkBin = b
		}
	}
	return nil
}

// syncBuffer collects a test's logs; go-plugin's goroutines may still write
// after the test ends, which t.Log would not allow.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger returns a JSON logger whose output is shown when t fails.
func testLogger(t *testing.T) (hclog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf)
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: "test", Output: buf, Level: hclog.Debug, JSONFormat: true}), buf
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}
