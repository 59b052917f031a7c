package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// SyncMode is when AutoSync syncs.
type SyncMode string

// The auto-sync modes.
const (
	// SyncNever: only explicit Sync calls.
	SyncNever SyncMode = "never"
	// SyncOnStart: once at start, unless a skip rule applies.
	SyncOnStart SyncMode = "on_start"
	// SyncOnChange: at start, then after local edits and when the hub
	// announces changes, debounced.
	SyncOnChange SyncMode = "on_change"
	// SyncInterval: at start, then every Options.AutoSyncInterval and when
	// the hub announces changes.
	SyncInterval SyncMode = "interval"
)

// ParseSyncMode reads a mode name.
func ParseSyncMode(s string) (SyncMode, error) {
	switch m := SyncMode(s); m {
	case SyncNever, SyncOnStart, SyncOnChange, SyncInterval:
		return m, nil
	}
	return "", fmt.Errorf("sync mode %q: want never, on_start, on_change or interval", s)
}

// StartCheck says whether the on-start sync should run now and, when not,
// why. It is skipped when no credentials are saved, when the last sync
// finished less than Options.MinStartAge (15 minutes) ago, when unresolved
// sync errors exist (the user resolves them first), and when the hub is
// unreachable (checked last: the only rule that costs a round trip).
func (c *Client) StartCheck(ctx context.Context) (ok bool, reason string) {
	if _, err := c.account(ctx); err != nil {
		return false, "no credentials saved"
	}
	last, err := c.LastSync(ctx)
	if err != nil {
		return false, err.Error()
	}
	if !last.IsZero() && c.now().Sub(last) < c.opts.MinStartAge {
		return false, fmt.Sprintf("last sync finished %s ago", c.now().Sub(last).Round(time.Second))
	}
	errs, err := c.Errors(ctx, "")
	if err != nil {
		return false, err.Error()
	}
	if len(errs) > 0 {
		return false, fmt.Sprintf("%d unresolved sync errors", len(errs))
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.callJSON(pctx, "GET", "/v1/me", nil, nil, nil); err != nil {
		switch {
		case errors.Is(err, ErrUnreachable):
			return false, "no network: hub unreachable"
		case errors.Is(err, ErrSessionExpired):
			return false, "session expired"
		}
		return false, err.Error()
	}
	return true, ""
}

// LastSync is when the last successful sync finished (zero when never).
func (c *Client) LastSync(ctx context.Context) (time.Time, error) {
	v, err := c.meta(ctx, "last_sync_at")
	if err != nil || v == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("last sync time %q: %w", v, err)
	}
	return t, nil
}

// AutoSync syncs in the background by mode until ctx ends (it blocks: run
// it in a goroutine). Every mode but never first runs the on-start sync,
// subject to StartCheck. on_change then syncs after local edits and when
// the hub's event stream announces changes, each debounced by
// Options.AutoSyncDebounce; interval syncs every Options.AutoSyncInterval
// and on announced changes. Outcomes go to Options.OnAutoSync and the log.
func (c *Client) AutoSync(ctx context.Context, mode SyncMode) error {
	if _, err := ParseSyncMode(string(mode)); err != nil {
		return err
	}
	if mode == SyncNever {
		return nil
	}
	if ok, reason := c.StartCheck(ctx); ok {
		c.runAuto(ctx, "start")
	} else {
		c.log.Info("on-start sync skipped", "reason", reason)
	}
	if mode == SyncOnStart {
		return nil
	}
	trigger := make(chan struct{}, 1)
	poke := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	watching := map[string]bool{}
	watch := func() {
		names, err := c.Sources(ctx)
		if err != nil {
			return
		}
		for _, s := range names {
			if watching[s] {
				continue
			}
			watching[s] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.WatchChanges(wctx, s, func(string) { poke() }); err != nil {
					c.log.Warn("event stream stopped", "source", s, "error", err)
				}
			}()
		}
	}
	watch()
	var tick <-chan time.Time
	if mode == SyncInterval {
		t := time.NewTicker(c.opts.AutoSyncInterval)
		defer t.Stop()
		tick = t.C
	}
	edits := c.edits
	if mode != SyncOnChange {
		edits = nil
	}
	var debounce *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-edits:
			poke()
		case <-trigger:
			if debounce == nil {
				debounce = time.NewTimer(c.opts.AutoSyncDebounce)
			} else {
				debounce.Reset(c.opts.AutoSyncDebounce)
			}
			fire = debounce.C
		case <-fire:
			fire = nil
			c.runAuto(ctx, "change")
			watch()
		case <-tick:
			c.runAuto(ctx, "interval")
			watch()
		}
	}
}

func (c *Client) runAuto(ctx context.Context, why string) {
	rep, err := c.Sync(ctx, SyncOptions{})
	if err != nil {
		c.log.Warn("auto sync failed", "trigger", why, "error", err)
	} else {
		c.log.Debug("auto sync done", "trigger", why, "duration", rep.Duration)
	}
	if c.opts.OnAutoSync != nil {
		c.opts.OnAutoSync(rep, err)
	}
}
