package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The sync phases an Event names.
const (
	PhaseSync     = "sync"
	PhaseSchema   = "schema"
	PhaseUpload   = "upload"
	PhaseDownload = "download"
	PhaseErrors   = "errors"
	PhaseFiles    = "files"
)

// Event reports sync progress (SyncOptions.Progress). The CLI prints it as
// a progress line on a terminal and as NDJSON otherwise.
type Event struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source,omitempty"`
	Phase  string    `json:"phase"`
	// Step is "start", "progress" or "end".
	Step string `json:"step"`
	// Done and Total count the phase's units: mutations sent, ops applied
	// (Total unknown: 0), files fetched.
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
	// Bytes counts file content received.
	Bytes   int64  `json:"bytes,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// SyncOptions tune one Sync.
type SyncOptions struct {
	// Progress, when set, receives events; it must not block for long.
	Progress func(Event)
	// Sources limits the sync to these sources (default: all).
	Sources []string
	// SkipFiles leaves the file queue for a later sync.
	SkipFiles bool
}

// SyncReport is what a sync did.
type SyncReport struct {
	Started  time.Time
	Duration time.Duration
	Sources  []SourceReport
	Files    FileReport
}

// SourceReport is what a sync did for one source.
type SourceReport struct {
	Source string
	// Upload.
	Entities    int
	Sent        int
	Rejected    int
	UploadCalls int
	UploadTime  time.Duration
	// Download.
	Ops          int
	Pages        int
	Resets       int
	Applied      int
	FullSync     bool
	DownloadTime time.Duration
	// SchemaChanged lists entities resynced in full because their schema
	// hash changed.
	SchemaChanged []string
	// Errors is the number of unresolved sync errors after the sync.
	Errors int
}

// FileReport is what a sync's file phase did.
type FileReport struct {
	Uploaded   int
	Downloaded int
	Failed     int
	Bytes      int64
	Time       time.Duration
}

// Sync uploads the pending changes, downloads the hub's changes and runs
// the file queue, for every source (or opts.Sources). Every phase is timed
// and written to the sync log. Only one sync runs at a time.
func (c *Client) Sync(ctx context.Context, opts SyncOptions) (SyncReport, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	emit := func(e Event) {
		if opts.Progress != nil {
			e.Time = c.now().UTC()
			opts.Progress(e)
		}
	}
	rep := SyncReport{Started: c.now().UTC()}
	if _, err := c.account(ctx); err != nil {
		return rep, err
	}
	emit(Event{Phase: PhaseSync, Step: "start"})
	var ws wireSources
	if err := c.callJSON(ctx, "GET", "/v1/sources", nil, nil, &ws); err != nil {
		return rep, c.endSync(ctx, &rep, emit, fmt.Errorf("sync: list sources: %w", err))
	}
	names := make([]string, 0, len(ws.Sources))
	for _, s := range ws.Sources {
		names = append(names, s.Name)
	}
	err := c.txn(ctx, func(tx *gorm.DB) error { return saveSources(tx, names) })
	c.schema.forget()
	if err != nil {
		return rep, c.endSync(ctx, &rep, emit, fmt.Errorf("sync: %w", err))
	}
	var errs []error
	for _, src := range names {
		if len(opts.Sources) > 0 && !containsString(opts.Sources, src) {
			continue
		}
		sr := SourceReport{Source: src}
		err := c.syncSource(ctx, src, &sr, emit)
		rep.Sources = append(rep.Sources, sr)
		if err != nil {
			errs = append(errs, err)
			if fatal(err) {
				return rep, c.endSync(ctx, &rep, emit, errors.Join(errs...))
			}
		}
	}
	if !opts.SkipFiles {
		if err := c.fileQueue(ctx, &rep.Files, emit); err != nil {
			errs = append(errs, err)
		}
	}
	return rep, c.endSync(ctx, &rep, emit, errors.Join(errs...))
}

// fatal errors end the whole sync: no point trying the next source.
func fatal(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrSessionExpired) || errors.Is(err, ErrNotLoggedIn) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (c *Client) endSync(ctx context.Context, rep *SyncReport, emit func(Event), err error) error {
	rep.Duration = c.now().Sub(rep.Started)
	summary := fmt.Sprintf("Sync Sources=%d TotalTime=%s", len(rep.Sources), rep.Duration.Round(time.Millisecond))
	c.writeLog(ctx, rep.Started, "", "Sync", summary, rep.Duration, err)
	ev := Event{Phase: PhaseSync, Step: "end", Message: summary}
	if err != nil {
		ev.Error = err.Error()
		emit(ev)
		return err
	}
	now := c.now().UTC()
	if e := setMeta(c.db.WithContext(ctx), "last_sync_at", now.Format(time.RFC3339Nano)); e != nil {
		return fmt.Errorf("sync: save last sync time: %w", e)
	}
	emit(ev)
	return nil
}

// syncSource runs schema check, upload, download and the sync-errors
// refresh for one source.
func (c *Client) syncSource(ctx context.Context, src string, rep *SourceReport, emit func(Event)) error {
	var ws wireSchema
	if err := c.callJSON(ctx, "GET", sourcePath(src, "/schema"), nil, nil, &ws); err != nil {
		return fmt.Errorf("sync %s: schema: %w", src, err)
	}
	for i := range ws.Entities {
		ws.Entities[i].normalize()
	}
	old, err := c.loadSchema(ctx, c.db.WithContext(ctx), src)
	if err != nil {
		return err
	}
	var changed []string
	if len(old) > 0 {
		changed = schemaChanges(old, ws.Entities)
	}
	// Upload first: pending edits were made against the old schema, and
	// must reach the hub before their entities are resynced.
	if err := c.upload(ctx, src, rep, emit); err != nil {
		return err
	}
	err = c.txn(ctx, func(tx *gorm.DB) error {
		if len(changed) > 0 {
			if err := resetEntities(tx, src, changed); err != nil {
				return err
			}
		}
		return saveSchema(tx, src, ws.Entities)
	})
	c.schema.forget()
	if err != nil {
		return fmt.Errorf("sync %s: save schema: %w", src, err)
	}
	if len(changed) > 0 {
		rep.SchemaChanged = changed
		c.log.Info("schema changed: resyncing in full", "source", src, "entities", strings.Join(changed, ","))
		emit(Event{Source: src, Phase: PhaseSchema, Step: "end", Message: "schema changed: " + strings.Join(changed, ", ")})
	}
	if err := c.download(ctx, src, rep, emit); err != nil {
		return err
	}
	// Edits that waited for an earlier edit of their record (now applied
	// and rebased) go out in a second round rather than a later sync.
	if n, err := c.countSendable(ctx, src); err != nil {
		return err
	} else if n > 0 {
		if err := c.upload(ctx, src, rep, emit); err != nil {
			return err
		}
		if err := c.download(ctx, src, rep, emit); err != nil {
			return err
		}
	}
	if err := c.refreshSyncErrors(ctx, src, rep); err != nil {
		return err
	}
	return c.txn(ctx, func(tx *gorm.DB) error {
		now := c.now().UTC()
		return tx.Model(&sourceRow{}).Where("name = ?", src).Update("last_sync_at", &now).Error
	})
}

// resetEntities clears the local records of entities whose schema changed
// (records with local edits stay) and the checkpoint, so the download that
// follows is a full pass.
func resetEntities(tx *gorm.DB, src string, entities []string) error {
	if err := tx.Where("source = ? AND entity IN ? AND NOT EXISTS (SELECT 1 FROM change_log l WHERE l.source = records.source AND l.entity = records.entity AND l.record_id = records.id)",
		src, entities).Delete(&recordRow{}).Error; err != nil {
		return err
	}
	if err := tx.Where("source = ? AND entity IN ?", src, entities).Delete(&shadowRow{}).Error; err != nil {
		return err
	}
	return tx.Model(&sourceRow{}).Where("name = ?", src).Updates(map[string]any{"checkpoint": "", "full_active": false}).Error
}

// writeLog appends one phase to the sync log and the logger, in the spirit
// of Resco's sync log lines.
func (c *Client) writeLog(ctx context.Context, started time.Time, source, phase, summary string, d time.Duration, err error) {
	row := syncLogRow{StartedAt: started.UTC(), Source: source, Phase: phase, Summary: summary, DurationMS: d.Milliseconds()}
	if err != nil {
		// Info, not warn: the error goes back to the caller, who reports it.
		row.Error = err.Error()
		c.log.Info(summary, "source", source, "error", err)
	} else {
		c.log.Info(summary, "source", source)
	}
	// The log is best effort: a cancelled sync still writes its line.
	if e := c.db.WithContext(context.WithoutCancel(ctx)).Create(&row).Error; e != nil {
		c.log.Warn("write sync log", "error", e)
	}
}

// LogEntry is one line of the sync log.
type LogEntry struct {
	Started  time.Time
	Source   string
	Phase    string
	Summary  string
	Duration time.Duration
	Error    string
}

// SyncLog returns the last n lines of the sync log, newest first.
func (c *Client) SyncLog(ctx context.Context, n int) ([]LogEntry, error) {
	var rows []syncLogRow
	if err := c.db.WithContext(ctx).Order("id DESC").Limit(n).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read sync log: %w", err)
	}
	out := make([]LogEntry, 0, len(rows))
	for _, r := range rows {
		out = append(out, LogEntry{Started: r.StartedAt, Source: r.Source, Phase: r.Phase, Summary: r.Summary,
			Duration: time.Duration(r.DurationMS) * time.Millisecond, Error: r.Error})
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
