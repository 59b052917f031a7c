package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/synchub/synchub/client"
)

func (a *app) syncCmd() *cobra.Command {
	var (
		follow  bool
		noFiles bool
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Upload pending edits, download the hub's changes, fetch eager files",
		Long: `sync uploads the pending edits, downloads the hub's changes and fetches the
eager files. On a terminal it shows a progress line; otherwise it writes one
JSON event per line (NDJSON). With --follow it stays connected to the hub's
event stream and syncs again whenever the hub announces changes, until
interrupted (Ctrl-C).`,
		Example: `  synchub-device sync
  synchub-device sync --follow
  synchub-device sync | jq -c 'select(.step == "end")'`,
		Args: exactArgs(0, "sync [--follow]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p := newProgress(a.io.out, isTerminal(a.io.out))
			opts := client.SyncOptions{Progress: p.event, SkipFiles: noFiles}
			rep, err := c.Sync(ctx, opts)
			p.done(rep, err)
			if err != nil || !follow {
				return err
			}
			return a.follow(ctx, c, opts, p)
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep syncing when the hub announces changes, until interrupted")
	cmd.Flags().BoolVar(&noFiles, "no-files", false, "skip the file queue")
	return cmd
}

// follow syncs on every change the hub announces (debounced) until ctx
// ends.
func (a *app) follow(ctx context.Context, c *client.Client, opts client.SyncOptions, p *progress) error {
	sources, err := c.Sources(ctx)
	if err != nil {
		return err
	}
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	errs := make(chan error, len(sources))
	for _, s := range sources {
		wg.Go(func() {
			if err := c.WatchChanges(ctx, s, func(string) {
				select {
				case wake <- struct{}{}:
				default:
				}
			}); err != nil {
				errs <- err
			}
		})
	}
	defer wg.Wait()
	p.note("following the hub's changes; Ctrl-C to stop")
	for {
		select {
		case <-ctx.Done():
			p.note("stopped")
			return nil
		case err := <-errs:
			return err
		case <-wake:
			// Debounce: one sync for a burst of notices.
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				continue
			}
			select {
			case <-wake:
			default:
			}
			rep, err := c.Sync(ctx, opts)
			p.done(rep, err)
		}
	}
}

// progress renders sync events: a rewritten line on a terminal, NDJSON
// otherwise.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	line string
	last time.Time
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

func (p *progress) event(e client.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		b, _ := json.Marshal(e)
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	var s string
	switch e.Phase {
	case client.PhaseUpload:
		s = fmt.Sprintf("%s: upload %d/%d", e.Source, e.Done, e.Total)
	case client.PhaseDownload:
		s = fmt.Sprintf("%s: download %d ops", e.Source, e.Done)
	case client.PhaseFiles:
		s = fmt.Sprintf("files %d/%d %s", e.Done, e.Total, humanBytes(e.Bytes))
	case client.PhaseSchema:
		s = fmt.Sprintf("%s: %s", e.Source, e.Message)
	default:
		return
	}
	// Rewriting a line costs little, but a flood of them flickers.
	if e.Step == "progress" && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.line = s
	fmt.Fprintf(p.w, "\r\x1b[K%s", s)
}

// done prints a sync's outcome (a summary line on a terminal; the end
// event already went out as NDJSON otherwise).
func (p *progress) done(rep client.SyncReport, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K")
	if err != nil {
		return
	}
	var parts []string
	for _, s := range rep.Sources {
		part := fmt.Sprintf("%s: sent %d, received %d", s.Source, s.Sent, s.Ops)
		if s.Rejected > 0 {
			part += fmt.Sprintf(", rejected %d", s.Rejected)
		}
		if s.Errors > 0 {
			part += fmt.Sprintf(", %d sync errors (synchub-device errors)", s.Errors)
		}
		if len(s.SchemaChanged) > 0 {
			part += ", resynced " + strings.Join(s.SchemaChanged, ", ")
		}
		parts = append(parts, part)
	}
	if rep.Files.Downloaded+rep.Files.Uploaded+rep.Files.Failed > 0 {
		parts = append(parts, fmt.Sprintf("files: %d fetched (%s), %d uploaded, %d failed",
			rep.Files.Downloaded, humanBytes(rep.Files.Bytes), rep.Files.Uploaded, rep.Files.Failed))
	}
	fmt.Fprintf(p.w, "synced in %s; %s\n", rep.Duration.Round(time.Millisecond), strings.Join(parts, "; "))
}

func (p *progress) note(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintln(p.w, msg)
		return
	}
	b, _ := json.Marshal(map[string]any{"time": time.Now().UTC(), "phase": "follow", "step": "note", "message": msg})
	fmt.Fprintf(p.w, "%s\n", b)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
