package pluginhost

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "SYNCHUB_PLUGINHOST_HELPER"

// TestHelperHub is not a test: TestNoOrphans runs the test binary again as a
// hub that starts the chaos plugin, prints its pid and waits to be killed.
func TestHelperHub(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestNoOrphans")
	}
	h := New(Options{Source: "orphan", Binary: Binary{Name: "chaos", Path: os.Getenv(helperEnv)}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Printf("PLUGIN_PID=%d\n", h.State().PID)
	// Wait for the parent to close stdin, so this helper never outlives it.
	_, _ = io.Copy(io.Discard, os.Stdin)
	h.Stop()
}

func TestNoOrphans(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHub$")
	// The helper cannot clean up after a SIGKILL; its temp files go here.
	cmd.Env = append(os.Environ(), helperEnv+"="+chaosBin.Path, "TMPDIR="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	pids := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PLUGIN_PID="); ok {
				pid, _ := strconv.Atoi(v)
				pids <- pid
			}
		}
		close(pids)
	}()
	var pid int
	select {
	case pid = <-pids:
	case <-time.After(30 * time.Second):
		t.Fatal("helper hub printed no plugin pid")
	}
	if pid <= 0 || !running(pid) {
		t.Fatalf("plugin pid %d is not running", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, 2*time.Second, fmt.Sprintf("plugin %d to exit after its hub was SIGKILLed", pid), func() bool { return !running(pid) })
}

// running reports whether pid is a live process (a zombie nobody reaped yet
// counts as gone).
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
