package pull

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// entityPull is one pull of one entity.
type entityPull struct {
	p      *Puller
	client sdk.Client
	pl     *plan
	log    hclog.Logger
	res    Result
}

func (p *Puller) pullEntity(ctx context.Context, client sdk.Client, src *config.Source, ent *config.Entity, schema sdk.Schema, full bool) (res Result, err error) {
	res = Result{Source: src.Name, Entity: ent.Name}
	unlock, err := p.lockEntity(ctx, src.Name, ent.Name)
	if err != nil {
		return res, fmt.Errorf("pull %s/%s: %w", src.Name, ent.Name, err)
	}
	defer unlock()
	start := time.Now()
	log := p.log.With("source", src.Name, "entity", ent.Name)
	st, err := p.st.EnsureEntityState(ctx, src.Name, ent.Name)
	if err != nil {
		return res, fmt.Errorf("pull %s/%s: %w", src.Name, ent.Name, err)
	}
	if err := p.st.PullStarted(ctx, src.Name, ent.Name, start); err != nil {
		return res, fmt.Errorf("pull %s/%s: %w", src.Name, ent.Name, err)
	}
	e := &entityPull{p: p, client: client, log: log, res: res}
	defer func() {
		res = e.res
		res.Duration = time.Since(start)
		p.finish(ctx, res, err)
	}()

	es, ok := schema.Entity(ent.Name)
	if !ok {
		return res, fmt.Errorf("pull %s/%s: %w", src.Name, ent.Name,
			&sdk.Error{Code: sdk.CodeUnknownEntity, Entity: ent.Name, Summary: "connector's schema has no such entity"})
	}
	if e.pl, err = newPlan(src, ent, es); err != nil {
		return res, fmt.Errorf("pull %s/%s: %w", src.Name, ent.Name, err)
	}
	if err := e.run(ctx, st, full); err != nil {
		return res, fmt.Errorf("pull %s/%s: %w", src.Name, ent.Name, err)
	}
	return res, nil
}

// finish records the outcome of an entity pull in its state and metrics.
func (p *Puller) finish(ctx context.Context, res Result, err error) {
	defer p.broadcast()
	mode := string(res.Mode)
	if mode == "" {
		mode = "none"
	}
	p.m.duration.WithLabelValues(res.Source, res.Entity, mode).Observe(res.Duration.Seconds())
	log := p.log.With("source", res.Source, "entity", res.Entity)
	if errors.Is(err, ErrStopping) {
		log.Info("pull stopped for shutdown after its last committed page", "pages", res.Pages)
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := p.st.PullFinished(sctx, res.Source, res.Entity, now(), err); serr != nil {
		log.Error("record pull outcome", "error", serr)
	}
	if err != nil {
		p.m.errors.WithLabelValues(res.Source, res.Entity).Inc()
		log.Warn("pull failed", "mode", res.Mode, "pages", res.Pages, "error", err)
		return
	}
	log.Debug("pulled", "mode", res.Mode, "pages", res.Pages, "changed", res.Changed,
		"removed", res.Removed, "unchanged", res.Unchanged, "duration", res.Duration)
}

// run decides between a full and an incremental pass, and falls back to a
// full pass when the back end no longer accepts a cursor.
func (e *entityPull) run(ctx context.Context, st store.EntityState, full bool) error {
	pl := e.pl
	needFull := full || st.Cursor == "" || st.FullRunning || st.SchemaHash != pl.hash ||
		(pl.deletes == sdk.DeletesFeed && st.DeleteCursor == "")
	if !needFull {
		err := e.incremental(ctx, st)
		if !errors.Is(err, sdk.ErrCursorExpired) {
			return err
		}
		e.log.Info("cursor expired: running a full pass", "error", err)
		if err := e.p.st.ResetCursor(ctx, pl.source, pl.entity); err != nil {
			return err
		}
		if st, err = e.p.st.EntityState(ctx, pl.source, pl.entity); err != nil {
			return err
		}
	}
	return e.full(ctx, st)
}

// full runs (or resumes) a full pass.
func (e *entityPull) full(ctx context.Context, st store.EntityState) error {
	e.res.Mode = ModeFull
	pl := e.pl
	resume := st.FullRunning && st.SchemaHash == pl.hash
	for attempt := 0; ; attempt++ {
		if !resume {
			var err error
			if st, err = e.startFull(ctx); err != nil {
				return err
			}
		} else {
			e.log.Debug("resuming full pass", "pass", st.FullPass, "cursor", st.FullCursor)
		}
		err := e.fetchFull(ctx, st)
		if errors.Is(err, sdk.ErrCursorExpired) && resume && attempt == 0 {
			// The resume point expired: start the pass over.
			e.log.Info("full pass resume point expired: starting a new pass", "error", err)
			resume = false
			continue
		}
		return err
	}
}

// startFull begins a new pass; on a delete-feed entity it first takes a
// delete cursor for the present, which becomes current when the pass
// completes, so deletions during the pass are reported after it.
func (e *entityPull) startFull(ctx context.Context) (store.EntityState, error) {
	pl := e.pl
	pending := ""
	if pl.deletes == sdk.DeletesFeed {
		cctx, cancel := context.WithTimeout(ctx, e.p.callTimeout())
		err := e.client.Deletions(cctx, sdk.DeletionsRequest{Entity: pl.entity}, func(dp sdk.DeletionPage) error {
			if dp.Cursor != "" {
				pending = dp.Cursor
			}
			return nil
		})
		cancel()
		if err != nil {
			return store.EntityState{}, fmt.Errorf("take delete cursor: %w", err)
		}
	}
	st, err := e.p.st.StartFullPass(ctx, pl.source, pl.entity, pl.hash, pending)
	if err != nil {
		return st, err
	}
	e.log.Debug("starting full pass", "pass", st.FullPass)
	return st, nil
}

func (e *entityPull) fetchFull(ctx context.Context, st store.EntityState) error {
	pl := e.pl
	req := sdk.FetchRequest{Entity: pl.entity, Fields: pl.request, Filter: pl.filter, Cursor: st.FullCursor, PageSize: pl.pageSize, RawFields: true}
	done := false
	// Pages are written behind: while one is written, the next is received
	// and converted.
	w := e.writeBehind(ctx)
	page := e.res.Pages
	err := e.client.Fetch(ctx, req, func(pg sdk.Page) error {
		page++
		if done {
			return fmt.Errorf("page %d: %w", page, errAfterDone)
		}
		puts, removes, err := pl.convert(pg.Records)
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		b := store.Batch{Put: puts, Remove: append(removes, pg.Deleted...), Pass: st.FullPass}
		if pg.Done {
			done = true
			b.Reconcile, b.ReconcileMaxSeq = true, st.FullStartSeq
			b.State = map[string]any{
				store.ColCursor: pg.Cursor, store.ColFullCursor: "", store.ColFullRunning: false, store.ColLastFull: now(),
			}
			switch pl.deletes {
			case sdk.DeletesFeed:
				b.State[store.ColDeleteCursor] = st.PendingDeleteCursor
				b.State[store.ColPendingDeleteCursor] = ""
			case sdk.DeletesNone:
				// A full pass reconciles everything id-only would.
				b.State[store.ColLastReconcile] = now()
			}
		} else {
			b.State = map[string]any{store.ColFullCursor: pg.Cursor}
		}
		if err := w.put(b); err != nil {
			return err
		}
		if e.p.stopRequested() {
			return ErrStopping // once the page in hand is written
		}
		return nil
	})
	if werr := w.close(); werr != nil {
		return werr // the write failed first: the fetch stopped for it
	}
	if err != nil {
		return err
	}
	if !done {
		return errNoDone
	}
	return nil
}

// writer applies a pass's batches in order on a goroutine of its own, one
// batch behind the caller.
type writer struct {
	batches chan store.Batch
	done    chan struct{}
	err     error // the first failed apply, read once done is closed
	failed  chan struct{}
}

// writeBehind starts a writer of e's batches.
func (e *entityPull) writeBehind(ctx context.Context) *writer {
	w := &writer{batches: make(chan store.Batch), done: make(chan struct{}), failed: make(chan struct{})}
	go func() {
		defer close(w.done)
		for b := range w.batches {
			if w.err != nil {
				continue // drain: put sees failed
			}
			if err := e.write(ctx, b); err != nil {
				w.err = err
				close(w.failed)
			}
		}
	}()
	return w
}

// put hands a batch to the writer, waiting while it writes the previous
// one; it fails once a write has failed.
func (w *writer) put(b store.Batch) error {
	select {
	case w.batches <- b:
		return nil
	case <-w.failed:
		return errWriteFailed
	}
}

// close waits for the last batch and returns the first failed write.
func (w *writer) close() error {
	close(w.batches)
	<-w.done
	return w.err
}

var errWriteFailed = errors.New("a page could not be written")

var (
	errAfterDone = errors.New("connector sent a page after the pass's Done page")
	errNoDone    = errors.New("connector ended the pass without a Done page")
)

// incremental pulls the changes since the cursor: deletions first (a
// record deleted and created again keeps its new self), then changes,
// unfiltered, with the filter applied here; then, for an entity whose
// connector tracks no deletions, id-only reconciliation when due.
func (e *entityPull) incremental(ctx context.Context, st store.EntityState) error {
	e.res.Mode = ModeIncremental
	pl := e.pl
	if pl.deletes == sdk.DeletesFeed {
		if err := e.deletions(ctx, st); err != nil {
			return err
		}
	}
	req := sdk.FetchRequest{Entity: pl.entity, Fields: pl.request, Incremental: true, Cursor: st.Cursor, PageSize: pl.pageSize, RawFields: true}
	done := false
	err := e.client.Fetch(ctx, req, func(pg sdk.Page) error {
		if done {
			return fmt.Errorf("page %d: %w", e.res.Pages+1, errAfterDone)
		}
		puts, removes, err := pl.convert(pg.Records)
		if err != nil {
			return fmt.Errorf("page %d: %w", e.res.Pages+1, err)
		}
		b := store.Batch{Put: puts, Remove: append(removes, pg.Deleted...), Pass: st.FullPass}
		if pg.Done || pg.Cursor != "" {
			b.State = map[string]any{store.ColCursor: pg.Cursor}
		}
		done = pg.Done
		return e.apply(ctx, b)
	})
	if err != nil {
		return err
	}
	if !done {
		return errNoDone
	}
	if pl.deletes == sdk.DeletesNone && reconcileDue(st, e.p.opts.ReconcileInterval) {
		return e.reconcileIDs(ctx, st)
	}
	return nil
}

func reconcileDue(st store.EntityState, every time.Duration) bool {
	return every < 0 || st.LastReconcile == nil || time.Since(*st.LastReconcile) >= every
}

// deletions reads the delete feed from the entity's delete cursor.
func (e *entityPull) deletions(ctx context.Context, st store.EntityState) error {
	pl := e.pl
	return e.client.Deletions(ctx, sdk.DeletionsRequest{Entity: pl.entity, Cursor: st.DeleteCursor}, func(dp sdk.DeletionPage) error {
		b := store.Batch{Remove: dp.IDs, Pass: st.FullPass}
		if dp.Cursor != "" {
			b.State = map[string]any{store.ColDeleteCursor: dp.Cursor}
		}
		return e.apply(ctx, b)
	})
}

// reconcileIDs removes mirrored records whose ids the back end no longer
// lists. Records written after the listing began are kept: they may be
// newer than the list.
func (e *entityPull) reconcileIDs(ctx context.Context, st store.EntityState) error {
	pl := e.pl
	maxSeq, err := e.p.st.SourceSeq(ctx, pl.source)
	if err != nil {
		return err
	}
	ids := map[string]struct{}{}
	err = e.client.ListIDs(ctx, sdk.ListIDsRequest{Entity: pl.entity, Filter: pl.filter}, func(batch []string) error {
		for _, id := range batch {
			ids[id] = struct{}{}
		}
		return nil
	})
	if errors.Is(err, sdk.ErrUnsupported) {
		e.log.Warn("connector tracks no deletions and cannot list ids: deleted records stay in the mirror until the next full pull")
		return e.p.st.UpdateEntityState(ctx, pl.source, pl.entity, map[string]any{store.ColLastReconcile: now()})
	}
	if err != nil {
		return fmt.Errorf("list ids: %w", err)
	}
	const scan = 1000
	after := ""
	for {
		refs, err := e.p.st.ScanIDs(ctx, pl.source, pl.entity, after, scan)
		if err != nil {
			return err
		}
		var gone []string
		for _, r := range refs {
			if _, ok := ids[r.ID]; !ok && r.Seq <= maxSeq {
				gone = append(gone, r.ID)
			}
		}
		if len(gone) > 0 {
			if err := e.apply(ctx, store.Batch{Remove: gone, Pass: st.FullPass}); err != nil {
				return err
			}
		}
		if len(refs) < scan {
			break
		}
		after = refs[len(refs)-1].ID
	}
	return e.p.st.UpdateEntityState(ctx, pl.source, pl.entity, map[string]any{store.ColLastReconcile: now()})
}

// apply commits one page. A page already received is committed even when
// ctx is cancelled meanwhile (graceful stop finishes the page in flight);
// after it, a stop request ends the pull.
func (e *entityPull) apply(ctx context.Context, b store.Batch) error {
	if err := e.write(ctx, b); err != nil {
		return err
	}
	if e.p.stopRequested() {
		return ErrStopping
	}
	return nil
}

// write commits one page, whether or not the puller is stopping (a full
// pass's writer: fetchFull checks for a stop as it hands each page over).
func (e *entityPull) write(ctx context.Context, b store.Batch) error {
	pl := e.pl
	b.Source, b.Entity = pl.source, pl.entity
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.p.callTimeout())
	defer cancel()
	res, err := e.p.st.ApplyBatch(actx, b)
	if err != nil {
		return fmt.Errorf("page %d: %w", e.res.Pages+1, err)
	}
	e.res.add(res)
	m := e.p.m
	m.pages.WithLabelValues(pl.source, pl.entity).Inc()
	m.records.WithLabelValues(pl.source, pl.entity, "changed").Add(float64(res.Changed))
	m.records.WithLabelValues(pl.source, pl.entity, "removed").Add(float64(res.Removed))
	m.records.WithLabelValues(pl.source, pl.entity, "unchanged").Add(float64(res.Unchanged))
	if e.p.opts.Notify != nil && len(res.Partitions) > 0 {
		e.p.opts.Notify(pl.source, res.Partitions, res.LastSeq)
	}
	return nil
}
