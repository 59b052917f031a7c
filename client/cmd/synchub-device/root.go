package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/synchub/synchub/client"
)

// streams are the command's standard streams; tests give buffers.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// app holds the global flags and the client, opened on first use.
type app struct {
	io       streams
	getenv   func(string) string
	dbPath   string
	source   string
	repair   bool
	logLevel string
	c        *client.Client
	log      hclog.Logger
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, io streams, getenv func(string) string) int {
	a := &app{io: io, getenv: getenv}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(io.in)
	root.SetOut(io.out)
	root.SetErr(io.err)
	err := root.ExecuteContext(ctx)
	if a.c != nil {
		if cerr := a.c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(io.err, "synchub-device: "+a.explain(ctx, err))
		return 1
	}
	return 0
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "synchub-device",
		Short: "Work offline against a synchub hub: sync, read and edit records, fetch files",
		Long: `synchub-device keeps a local store of the records a hub lets this device see,
records edits made offline and sends them on the next sync.

  synchub-device login http://127.0.0.1:8080 alice
  synchub-device sync
  synchub-device ls account --filter "revenue gt 1000"
  synchub-device update account <id> name="Contoso Ltd"
  synchub-device sync`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := a.getenv("SYNCHUB_DEVICE_DB")
	if def == "" {
		if home, err := os.UserHomeDir(); err == nil {
			def = filepath.Join(home, ".synchub-device", "device.db")
		}
	}
	lvl := a.getenv("SYNCHUB_LOG_LEVEL")
	if lvl == "" {
		lvl = "warn"
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.dbPath, "db", def, "local store file (env SYNCHUB_DEVICE_DB)")
	pf.StringVar(&a.source, "source", "", "source to work on (default: the first the hub lists)")
	pf.BoolVar(&a.repair, "repair", false, "rebuild a damaged local store, keeping pending changes")
	pf.StringVar(&a.logLevel, "log-level", lvl, "log level on stderr: trace, debug, info, warn, error (env SYNCHUB_LOG_LEVEL)")
	root.AddCommand(a.loginCmd(), a.logoutCmd(), a.syncCmd(), a.lsCmd(), a.showCmd(), a.createCmd(), a.updateCmd(),
		a.deleteCmd(), a.pendingCmd(), a.errorsCmd(), a.resolveCmd(), a.filesCmd(), a.getFileCmd(), a.attachCmd(),
		a.statusCmd(), a.logCmd())
	return root
}

// client opens the local store on first use.
func (a *app) client(ctx context.Context) (*client.Client, error) {
	if a.c != nil {
		return a.c, nil
	}
	if a.dbPath == "" {
		return nil, errors.New("no local store path; give --db PATH or set SYNCHUB_DEVICE_DB")
	}
	a.log = hclog.New(&hclog.LoggerOptions{Name: "synchub-device", Level: hclog.LevelFromString(a.logLevel), Output: a.io.err})
	c, err := client.Open(ctx, client.Options{Path: a.dbPath, Logger: a.log, Repair: a.repair})
	if err != nil {
		return nil, err
	}
	if r := c.Repaired(); r != nil {
		fmt.Fprintf(a.io.err, "local store %s was damaged (%s) and has been repaired; the damaged file is at %s\n", a.dbPath, r.Detail, r.DamagedCopy)
		if r.ChangesLost != "" {
			fmt.Fprintf(a.io.err, "pending changes could not be read (%s); they remain only in the damaged file\n", r.ChangesLost)
		} else {
			fmt.Fprintf(a.io.err, "%d pending change(s) kept; run: synchub-device sync\n", r.ChangesKept)
		}
		if !r.LoggedIn {
			fmt.Fprintln(a.io.err, "log in again: synchub-device login URL USER")
		}
	}
	a.c = c
	return c, nil
}

// explain turns an error into one line with a hint.
func (a *app) explain(ctx context.Context, err error) string {
	var (
		corrupt *client.CorruptError
		unreach *client.UnreachableError
		apiErr  *client.APIError
	)
	switch {
	case errors.Is(err, client.ErrNotLoggedIn):
		return "not logged in; run: synchub-device login URL USER"
	case errors.Is(err, client.ErrSessionExpired):
		return "session expired; run: synchub-device login URL USER"
	case errors.As(err, &corrupt):
		return fmt.Sprintf("%v; run: synchub-device --repair status (pending changes are kept)", corrupt)
	case errors.As(err, &unreach):
		return fmt.Sprintf("hub unreachable at %s (%v); check the network and the hub URL, then retry (edits stay queued)", unreach.URL, unreach.Err)
	case errors.Is(err, client.ErrNoSchema):
		return "no data yet; run: synchub-device sync"
	case errors.As(err, &apiErr) && apiErr.Status == 401 && strings.Contains(apiErr.Op, "/auth/token"):
		return "login refused: wrong user name or password"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// exactArgs is cobra.ExactArgs with a usage hint in the message.
func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("want %d argument(s): synchub-device %s", n, usage)
		}
		return nil
	}
}

func minArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return fmt.Errorf("want at least %d argument(s): synchub-device %s", n, usage)
		}
		return nil
	}
}
