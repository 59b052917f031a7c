package files

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Result is what one listing of a source did.
type Result struct {
	Source string
	// Full is set when the listing was (or fell back to) a full one.
	Full bool
	// Pages counts committed pages; Upserted and Removed count files.
	Pages, Upserted, Removed int
	// LastSeq is the highest seq used in the feed source, 0 when none.
	LastSeq int64
}

// SyncSource lists a source's files into the mirror: incrementally from
// its cursor, or in full when full is set, when it has no cursor, when
// its blob filters changed or when the connector refuses the cursor. Each
// page commits with the cursor after it, so an interrupted listing
// resumes.
func (s *Syncer) SyncSource(ctx context.Context, source string, full bool) (Result, error) {
	res := Result{Source: source}
	src, err := s.source(source)
	if err != nil {
		return res, err
	}
	feed, err := s.feed(src)
	if err != nil {
		return res, err
	}
	d, err := s.describe(ctx, source)
	if err != nil {
		return res, err
	}
	if !d.Has(sdk.CapListFiles) {
		return res, fmt.Errorf("source %q: %w", source, ErrNoFiles)
	}
	unlock, err := s.lock(ctx, source)
	if err != nil {
		return res, err
	}
	defer unlock()
	release, err := s.st.TryLease(ctx, "files:"+source)
	if err != nil {
		return res, fmt.Errorf("list files of %s: %w", source, err)
	}
	defer release()
	client, err := s.opts.Client(source)
	if err != nil {
		return res, fmt.Errorf("connector of %s: %w", source, err)
	}
	if _, err := s.st.EnsureFileSource(ctx, source); err != nil {
		return res, err
	}
	start := time.Now().UTC()
	if err := s.st.UpdateFileSource(ctx, source, map[string]any{"last_list_started": start}); err != nil {
		return res, err
	}
	res, err = s.list(ctx, client, src, feed, full)
	cols := map[string]any{"last_list_finished": time.Now().UTC()}
	if err == nil {
		cols["last_success"], cols["last_error"] = cols["last_list_finished"], ""
	} else {
		cols["last_error"] = err.Error()
	}
	// The outcome is recorded even when ctx ended.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if uerr := s.st.UpdateFileSource(uctx, source, cols); uerr != nil && err == nil {
		err = uerr
	}
	lg := s.log.With("source", source, "full", res.Full, "pages", res.Pages, "upserted", res.Upserted,
		"removed", res.Removed, "duration", time.Since(start))
	if err != nil {
		lg.Warn("file listing failed", "error", err)
	} else {
		lg.Debug("files listed")
	}
	return res, err
}

// lock serializes listings of a source inside this process.
func (s *Syncer) lock(ctx context.Context, source string) (func(), error) {
	for {
		s.mu.Lock()
		ch, busy := s.listing[source]
		if !busy {
			ch = make(chan struct{})
			s.listing[source] = ch
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.listing, source)
				s.mu.Unlock()
				close(ch)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stopping:
			return nil, ErrStopping
		}
	}
}

func (s *Syncer) list(ctx context.Context, client sdk.Client, src, feed *config.Source, full bool) (Result, error) {
	res := Result{Source: src.Name}
	hash := rulesHash(feed)
	st, err := s.st.EnsureFileSource(ctx, src.Name)
	if err != nil {
		return res, err
	}
	if full || st.RulesHash != hash || (st.Cursor == "" && !st.FullRunning) {
		if st, err = s.st.StartFileListing(ctx, src.Name, hash); err != nil {
			return res, err
		}
	}
	entities := make([]string, len(feed.Entities))
	for i, e := range feed.Entities {
		entities[i] = e.Name
	}
	for attempt := 0; ; attempt++ {
		res.Full = res.Full || st.FullRunning
		cursor := st.Cursor
		if st.FullRunning {
			cursor = st.ResumeCursor
		}
		page := 0
		err := client.ListFiles(ctx, sdk.ListFilesRequest{Cursor: cursor, Entities: entities}, func(pg sdk.FilePage) error {
			page++
			if s.stopRequested() {
				return ErrStopping
			}
			if err := s.applyPage(ctx, &st, feed, pg, &res); err != nil {
				return fmt.Errorf("page %d: %w", page, err)
			}
			return nil
		})
		if errors.Is(err, sdk.ErrCursorExpired) && attempt == 0 {
			s.log.Info("file cursor expired; listing in full", "source", src.Name, "detail", err)
			if st, err = s.st.StartFileListing(ctx, src.Name, hash); err != nil {
				return res, err
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("list files of %s: %w", src.Name, err)
		}
		return res, nil
	}
}

// applyPage commits one listing page with the cursor after it.
func (s *Syncer) applyPage(ctx context.Context, st *store.FileSource, feed *config.Source, pg sdk.FilePage, res *Result) error {
	c := store.FileChanges{Source: st.Source, Target: feed.Name, Deleted: pg.Deleted, Orphans: pg.Orphans}
	for _, f := range pg.Files {
		r, ok := row(feed, f)
		if !ok {
			s.log.Warn("listed file without a usable id or record is reported as an orphan", "source", st.Source, "id", f.ID, "path", f.Path)
			c.Orphans = append(c.Orphans, orphanPath(f))
			continue
		}
		c.Files = append(c.Files, r)
	}
	now := time.Now().UTC()
	switch {
	case st.FullRunning && pg.Done:
		c.Pass, c.Reconcile = st.FullPass, true
		c.State = map[string]any{store.ColFileCursor: pg.Cursor, store.ColFileResumeCursor: "",
			store.ColFileFullRunning: false, store.ColFileLastFull: now}
	case st.FullRunning:
		c.Pass = st.FullPass
		c.State = map[string]any{store.ColFileResumeCursor: pg.Cursor}
	default:
		c.State = map[string]any{store.ColFileCursor: pg.Cursor}
	}
	out, err := s.st.ApplyFiles(ctx, c)
	if err != nil {
		return err
	}
	switch {
	case st.FullRunning && pg.Done:
		st.FullRunning, st.Cursor, st.ResumeCursor = false, pg.Cursor, ""
	case st.FullRunning:
		st.ResumeCursor = pg.Cursor
	default:
		st.Cursor = pg.Cursor
	}
	res.Pages++
	res.Upserted += out.Upserted
	res.Removed += out.Removed
	res.LastSeq = max(res.LastSeq, out.LastSeq)
	s.notify(feed.Name, out)
	return nil
}

func orphanPath(f sdk.File) string {
	if f.Path != "" {
		return f.Path
	}
	if len(f.ID) > maxFileID {
		return f.ID[:maxFileID]
	}
	return f.ID
}
