// Package tour runs the README's five-minute tour against `synchub dev`,
// command by command, so the tour a new user follows is known to work.
package tour

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// substitutions the test makes to the README's commands, and only these:
// the hub's and the emulator's ports (the test picks free ones), the
// device stores' paths (a temporary directory), <ID> (an account of
// alice's, as a reader would pick from `ls account`), and the password,
// typed at a prompt by a reader, piped with --password-stdin here.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs the demo")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := tourBlocks(t, string(readme))

	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	build(t, root, filepath.Join(bin, "synchub"), "./host/cmd/synchub")
	build(t, root, filepath.Join(bin, "synchub-device"), "./client/cmd/synchub-device")
	for _, p := range []string{"dynamicscrm", "dropbox"} {
		build(t, root, filepath.Join(bin, "plugins", p), "./plugins/"+p)
	}

	hubAddr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, filepath.Join(bin, "synchub"), "dev", "--listen", hubAddr, "--data", "data")
	demo.Dir = work
	demo.Cancel = func() error { return demo.Process.Signal(os.Interrupt) }
	demo.WaitDelay = 20 * time.Second
	out, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	demo.Stderr = &stderr
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = demo.Wait()
		if t.Failed() {
			t.Logf("synchub dev's log:\n%s", stderr.String())
		}
	})
	crmURL := welcome(t, out)

	r := &runner{t: t, dir: work, hub: "http://" + hubAddr, hubAddr: hubAddr, crm: crmURL}

	// The device part, line by line.
	var aliceAccounts, bobAccounts string
	edited := false
	for _, line := range blocks[0] {
		if strings.HasPrefix(line, "curl") {
			// The hub accepted the edit during the sync and pushes it to
			// the CRM right after: a reader looks a moment later.
			r.eventually(line, "555-0100")
			continue
		}
		got := r.run(line)
		switch {
		case strings.Contains(line, "alice.db ls account"):
			aliceAccounts = got
			r.id = firstID(t, got)
		case strings.Contains(line, "bob.db ls account"):
			bobAccounts = got
		case strings.Contains(line, "alice.db status") && !edited:
			if !strings.Contains(got, "pending:   0") {
				t.Errorf("status after the first sync shows pending changes:\n%s", got)
			}
		case strings.Contains(line, "alice.db update"):
			edited = true
		case strings.Contains(line, "alice.db files"):
			if !strings.Contains(got, "crm:") || !strings.Contains(got, "docs:") {
				t.Errorf("the account's files are not both CRM notes and Dropbox documents:\n%s", got)
			}
		}
	}
	if aliceAccounts == "" || bobAccounts == "" {
		t.Fatalf("the tour lists no accounts (alice: %d bytes, bob: %d bytes)", len(aliceAccounts), len(bobAccounts))
	}
	if strings.Contains(bobAccounts, r.id) {
		t.Errorf("bob sees alice's account %s", r.id)
	}

	// The admin's view, as one script (it needs curl and jq).
	if have("curl") && have("jq") {
		got := r.script(blocks[1])
		for _, want := range []string{`"crm"`, "synchub_"} {
			if !strings.Contains(got, want) {
				t.Errorf("the admin's view lacks %s:\n%s", want, got)
			}
		}
	} else {
		t.Log("curl or jq missing: the admin's view is not run")
	}

	// The tools that stop by themselves.
	for _, line := range blocks[2] {
		if strings.Contains(line, " emulate ") || strings.Contains(line, " serve ") {
			continue // long-running servers
		}
		r.run(line)
	}
}

// tourBlocks returns the sh blocks of the README's tour section, each as
// its command lines.
func tourBlocks(t *testing.T, readme string) [][]string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "## A five-minute tour")
	if !ok {
		t.Fatal("README.md has no five-minute tour")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks [][]string
	for _, part := range strings.Split(section, "```sh\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		var lines []string
		for _, l := range strings.Split(strings.ReplaceAll(body, "\\\n", " "), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		blocks = append(blocks, lines)
	}
	if len(blocks) != 3 {
		t.Fatalf("the tour has %d sh blocks; this test runs 3 (devices, admin, tools)", len(blocks))
	}
	return blocks
}

type runner struct {
	t                     *testing.T
	dir                   string
	hub, hubAddr, crm, id string
}

var comment = regexp.MustCompile(`\s+#\s.*$`)

// expand makes the README's substitutions; stdin is what a reader types.
func (r *runner) expand(line string) (cmd, stdin string) {
	line = comment.ReplaceAllString(line, "")
	line = regexp.MustCompile(`http://127\.0\.0\.1:<CRM port>`).ReplaceAllString(line, r.crm)
	line = strings.ReplaceAll(line, "http://127.0.0.1:8080", r.hub)
	line = strings.ReplaceAll(line, "localhost:8080", r.hubAddr)
	line = strings.ReplaceAll(line, "/tmp/", r.dir+"/")
	if r.id != "" {
		line = strings.ReplaceAll(line, "<ID>", r.id)
	}
	if strings.Contains(line, "<") && !strings.Contains(line, "<<") {
		r.t.Fatalf("the tour line %q has a placeholder this test does not fill", line)
	}
	if f := strings.Fields(line); len(f) >= 5 && f[3] == "login" {
		user := f[len(f)-1]
		return strings.Replace(line, " login ", " login --password-stdin ", 1), user + "\n"
	}
	return line, ""
}

func (r *runner) run(line string) string {
	r.t.Helper()
	cmd, stdin := r.expand(line)
	return r.bash(cmd, stdin, line)
}

// eventually runs line until its output contains want, for up to 30 s.
func (r *runner) eventually(line, want string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := r.run(line)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%q never showed %q; last:\n%s", line, want, got)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (r *runner) script(lines []string) string {
	r.t.Helper()
	var cmds []string
	for _, l := range lines {
		c, _ := r.expand(l)
		cmds = append(cmds, c)
	}
	return r.bash("set -e -o pipefail\n"+strings.Join(cmds, "\n"), "", "the admin's view")
}

func (r *runner) bash(script, stdin, what string) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", "-c", script)
	c.Dir = r.dir
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	if err != nil {
		r.t.Fatalf("tour step %q failed: %v\n%s", what, err, out)
	}
	r.t.Logf("$ %s\n%s", what, truncate(string(out), 600))
	return string(out)
}

// welcome reads the demo's banner up to its last line and returns the CRM
// emulator's URL.
func welcome(t *testing.T, out interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var crm string
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("synchub dev stopped before it was ready")
			}
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "Dynamics" && f[1] == "CRM:" {
				crm = f[2]
			}
			if strings.HasPrefix(l, "Stop with Ctrl-C") {
				if crm == "" {
					t.Fatal("the demo's banner names no Dynamics CRM address")
				}
				go func() { // keep the pipe drained
					for range lines {
					}
				}()
				return crm
			}
		case <-deadline:
			t.Fatal("synchub dev did not print its banner within 2 minutes")
		}
	}
}

// firstID is the first column of the first row of `ls`'s table.
func firstID(t *testing.T, table string) string {
	t.Helper()
	rows := strings.Split(strings.TrimSpace(table), "\n")
	if len(rows) < 2 {
		t.Fatalf("ls account shows no rows:\n%s", table)
	}
	return strings.Fields(rows[1])[0]
}

func build(t *testing.T, root, out, pkg string) {
	t.Helper()
	c := exec.Command("go", "build", "-o", out, pkg)
	c.Dir = root
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func have(tool string) bool {
	_, err := exec.LookPath(tool)
	return err == nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
}
