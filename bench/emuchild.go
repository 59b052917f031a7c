package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
)

// emuChildFlag starts the bench binary as an emulator child: P5's back end
// in a process of its own, as a real back end is. In the bench process the
// emulator's CPU would be counted as the hub's, and the emulator's rows
// (some 100,000 accounts by P5's last round) would be walked by the
// collections the hub's allocations start.
const emuChildFlag = "-emulator-child"

// remoteCRM is an emulator served by an emulator child.
type remoteCRM struct {
	endpoint
	cmd   *exec.Cmd
	stdin io.Closer
	hc    *http.Client
}

// spawnCRM starts an emulator child holding n accounts (as startCRM).
func spawnCRM(ctx context.Context, n int) (*remoteCRM, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("emulator child: %w", err)
	}
	cmd := exec.Command(exe, emuChildFlag, strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	// The child stops when its stdin closes: when close is called, or when
	// the bench process dies.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("emulator child: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("emulator child: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("emulator child: %w", err)
	}
	r := &remoteCRM{cmd: cmd, stdin: stdin, hc: &http.Client{Timeout: time.Minute}}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case base := <-line:
		if !strings.HasPrefix(base, "http://") {
			r.close()
			return nil, fmt.Errorf("emulator child: it said %q, want its URL", base)
		}
		r.base = base
	case <-time.After(time.Minute):
		r.close()
		return nil, errors.New("emulator child: no URL after a minute")
	case <-ctx.Done():
		r.close()
		return nil, ctx.Err()
	}
	return r, nil
}

// pid is the child's process id.
func (r *remoteCRM) pid() int { return r.cmd.Process.Pid }

// cpu is the CPU the child has used so far.
func (r *remoteCRM) cpu() time.Duration {
	d, _ := procCPU(r.pid())
	return d
}

// accounts reads the count from the emulator's admin API (/_emulator/stats).
func (r *remoteCRM) accounts(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/_emulator/stats", nil)
	if err != nil {
		return 0, err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("emulator stats: %w", err)
	}
	var stats struct {
		Entities map[string]int `json:"entities"`
	}
	if err := decodeJSON(resp, &stats); err != nil {
		return 0, fmt.Errorf("emulator stats: %w", err)
	}
	n, ok := stats.Entities["accounts"]
	if !ok {
		return 0, errors.New("emulator stats: no accounts")
	}
	return n, nil
}

// close stops the child and waits for it.
func (r *remoteCRM) close() {
	_ = r.stdin.Close()
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.hc.CloseIdleConnections()
}

// runEmulatorChild is main for an emulator child: it serves an emulator of
// args[0] accounts, writes its URL on stdout and serves until stdin closes.
func runEmulatorChild(args []string) int {
	n := 0
	if len(args) == 1 {
		n, _ = strconv.Atoi(args[0])
	}
	c, err := startCRM(n, emulator.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.close()
	if _, err := fmt.Fprintln(os.Stdout, c.base); err != nil {
		return 1
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}
