package pull

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/synchub/synchub/host/config"
)

// queue is the River queue of pull jobs.
const queue = "synchub_pull"

// pullArgs is a queued pull of a source.
type pullArgs struct {
	Source   string   `json:"source"`
	Entities []string `json:"entities,omitempty"`
	Full     bool     `json:"full,omitempty"`
}

func (pullArgs) Kind() string { return "synchub_pull" }

// expireArgs is the periodic tombstone expiry.
type expireArgs struct{}

func (expireArgs) Kind() string { return "synchub_expire_tombstones" }

// uniqueOpts: at most one queued pull per (source, entities, full) that
// is waiting or running.
func uniqueOpts() river.UniqueOpts {
	return river.UniqueOpts{ByArgs: true, ByState: UniqueStates()}
}

type pullWorker struct {
	river.WorkerDefaults[pullArgs]
	p *Puller
}

func (w *pullWorker) Timeout(*river.Job[pullArgs]) time.Duration { return w.p.opts.JobTimeout }

func (w *pullWorker) Work(ctx context.Context, job *river.Job[pullArgs]) error {
	a := job.Args
	err := w.p.PullSource(ctx, a.Source, a.Entities, a.Full)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknown):
		// The config no longer has it: retrying cannot help.
		return river.JobCancel(err)
	case errors.Is(err, ErrStopping):
		// Resume soon after the next start, from the last committed page.
		return river.JobSnooze(time.Second)
	case errors.Is(err, ErrBusy):
		return river.JobSnooze(w.p.opts.BusyRetry)
	}
	return err
}

type expireWorker struct {
	river.WorkerDefaults[expireArgs]
	p *Puller
}

func (w *expireWorker) Work(ctx context.Context, _ *river.Job[expireArgs]) error {
	return w.p.ExpireTombstones(ctx)
}

// ExpireTombstones deletes every configured source's REMOVE tombstones
// older than hub.tombstone_retention (default 30 days), raising partition
// floors so devices that missed them resync those partitions.
func (p *Puller) ExpireTombstones(ctx context.Context) error {
	keep := p.cfg.Hub.TombstoneRetention
	if keep <= 0 {
		keep = 30 * 24 * time.Hour
	}
	var errs []error
	for _, src := range p.cfg.Sources {
		n, err := p.st.ExpireTombstones(ctx, src.Name, time.Now().Add(-keep))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n > 0 {
			p.log.Info("expired tombstones", "source", src.Name, "count", n)
		}
	}
	return errors.Join(errs...)
}

// Start starts the scheduler: River workers for queued pulls, a periodic
// pull per source with an interval (the first one at start), and hourly
// tombstone expiry. On PostgreSQL every hub instance may run it: River
// elects one leader to enqueue periodic jobs, unique jobs keep one pull of
// a source queued, and the source lease keeps two instances from pulling
// one source at once.
func (p *Puller) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.river != nil {
		return errors.New("pull scheduler already started")
	}
	if p.stopRequested() {
		return ErrStopping
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &pullWorker{p: p}); err != nil {
		return fmt.Errorf("start pull scheduler: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &expireWorker{p: p}); err != nil {
		return fmt.Errorf("start pull scheduler: %w", err)
	}
	var periodic []*river.PeriodicJob
	for _, src := range p.cfg.Sources {
		if src.Interval <= 0 {
			continue
		}
		name := src.Name
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(src.Interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return pullArgs{Source: name}, &river.InsertOpts{Queue: queue, UniqueOpts: uniqueOpts()}
			}, &river.PeriodicJobOpts{ID: "pull:" + name, RunOnStart: true}))
	}
	periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) {
			return expireArgs{}, &river.InsertOpts{Queue: queue,
				UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueOpts().ByState}}
		}, &river.PeriodicJobOpts{ID: "expire_tombstones", RunOnStart: true}))

	queues := map[string]river.QueueConfig{queue: {MaxWorkers: p.opts.Workers}}
	extra, err := p.stageJobs(workers, queues)
	if err != nil {
		return fmt.Errorf("start pull scheduler: %w", err)
	}
	periodic = append(periodic, extra...)

	cooldown := min(100*time.Millisecond, p.opts.PollInterval)
	cfg := &river.Config{
		Logger:               newSlog(p.log.Named("queue")),
		Queues:               queues,
		Workers:              workers,
		PeriodicJobs:         periodic,
		JobTimeout:           p.opts.JobTimeout,
		RescueStuckJobsAfter: p.opts.JobTimeout + 15*time.Minute,
		FetchPollInterval:    p.opts.PollInterval,
		FetchCooldown:        cooldown,
		MaxAttempts:          10,
		// Neither driver here listens: database/sql has no LISTEN for River
		// and SQLite has none at all.
		PollOnly: true,
	}
	client, err := river.NewClient(QueueDriver(p.st), cfg)
	if err != nil {
		return fmt.Errorf("start pull scheduler: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start pull scheduler: %w", err)
	}
	p.river = client
	useClient(p.opts.Stages, client)
	return nil
}

// Stop stops scheduling and pulling: running pulls end after the page in
// flight is committed (they resume from there after the next start), then
// the queue stops. If ctx ends first, running jobs are cancelled. A
// stopped Puller does not start again.
func (p *Puller) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { close(p.stopping) })
	p.mu.Lock()
	client := p.river
	p.mu.Unlock()
	err := StopQueue(ctx, client)
	done := make(chan struct{})
	go func() { p.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("stop puller: %w", ctx.Err()))
	}
	return err
}

// Trigger asks for a pull of a source's entities (all when entities is
// empty) and returns once it is queued, not done. The same request already
// waiting or running is not queued twice. Without Start, the pull runs in
// a goroutine of this process instead of the queue.
func (p *Puller) Trigger(ctx context.Context, source string, entities []string, full bool) error {
	if _, _, err := p.lookup(source, entities); err != nil {
		return fmt.Errorf("trigger pull %s: %w", source, err)
	}
	if p.stopRequested() {
		return fmt.Errorf("trigger pull %s: %w", source, ErrStopping)
	}
	entities = slices.Clone(entities)
	slices.Sort(entities)
	entities = slices.Compact(entities)
	p.mu.Lock()
	client := p.river
	p.mu.Unlock()
	if client != nil {
		_, err := client.Insert(ctx, pullArgs{Source: source, Entities: entities, Full: full},
			&river.InsertOpts{Queue: queue, UniqueOpts: uniqueOpts()})
		if err != nil {
			return fmt.Errorf("trigger pull %s: %w", source, err)
		}
		return nil
	}
	key := fmt.Sprintf("%s\x00%s\x00%t", source, strings.Join(entities, "\x00"), full)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight[key] {
		return nil
	}
	p.inflight[key] = true
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.inflight, key)
			p.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.JobTimeout)
		defer cancel()
		if err := p.PullSource(ctx, source, entities, full); err != nil && !errors.Is(err, ErrStopping) {
			p.log.Warn("triggered pull failed", "source", source, "error", err)
		}
	}()
	return nil
}

// EnsureFresh is called when a device syncs: it triggers a pull of every
// entity of source whose last successful pull is older than the source's
// max staleness, and waits for those pulls to end, but never longer than
// FreshWait (the device then gets what the mirror has; the pull goes on).
// It fails only when the state cannot be read or the pull not queued.
func (p *Puller) EnsureFresh(ctx context.Context, source string) error {
	src, _, err := p.lookup(source, nil)
	if err != nil {
		return fmt.Errorf("ensure fresh %s: %w", source, err)
	}
	stale, err := p.staleEntities(ctx, source, src.MaxStaleness)
	if err != nil || len(stale) == 0 {
		return err
	}
	since := time.Now().Truncate(time.Millisecond)
	if err := p.Trigger(ctx, source, stale, false); err != nil {
		return err
	}
	timer := time.NewTimer(p.opts.FreshWait)
	defer timer.Stop()
	// Pulls of this process signal their end; another instance's are seen
	// by polling.
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		signal := p.pulledSignal()
		pending, err := p.unfinishedSince(ctx, source, stale, since)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-signal:
		case <-poll.C:
		case <-timer.C:
			p.log.Debug("device sync goes on while pulls finish", "source", source, "entities", pending)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *Puller) staleEntities(ctx context.Context, source string, maxStale time.Duration) ([]string, error) {
	src, ents, err := p.lookup(source, nil)
	if err != nil {
		return nil, err
	}
	if maxStale > 0 && p.knownFresh(src.Name, ents, maxStale) {
		return nil, nil
	}
	states, err := p.st.EntityStates(ctx, src.Name)
	if err != nil {
		return nil, fmt.Errorf("ensure fresh %s: %w", source, err)
	}
	last := map[string]*time.Time{}
	p.mu.Lock()
	for _, st := range states {
		last[st.Entity] = st.LastSuccess
		if st.LastSuccess != nil {
			p.succeeded[src.Name+"\x00"+st.Entity] = *st.LastSuccess
		}
	}
	p.mu.Unlock()
	var stale []string
	for _, e := range ents {
		if t := last[e.Name]; t == nil || maxStale <= 0 || time.Since(*t) > maxStale {
			stale = append(stale, e.Name)
		}
	}
	return stale, nil
}

// knownFresh says whether every entity was pulled successfully within
// maxStale, by the last successful pulls staleEntities read before: a
// last success only moves forward, so an entity fresh by the memo is fresh
// by the database too, and a device's download (EnsureFresh on every poll)
// need not read the states again until the memo says an entity may be
// stale.
func (p *Puller) knownFresh(source string, ents []*config.Entity, maxStale time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range ents {
		t, ok := p.succeeded[source+"\x00"+e.Name]
		if !ok || time.Since(t) > maxStale {
			return false
		}
	}
	return true
}

// unfinishedSince lists the entities whose last pull has not ended since t.
func (p *Puller) unfinishedSince(ctx context.Context, source string, entities []string, t time.Time) ([]string, error) {
	states, err := p.st.EntityStates(ctx, source)
	if err != nil {
		return nil, fmt.Errorf("ensure fresh %s: %w", source, err)
	}
	finished := map[string]bool{}
	for _, st := range states {
		if st.LastPullFinished != nil && !st.LastPullFinished.Before(t) {
			finished[st.Entity] = true
		}
	}
	var out []string
	for _, e := range entities {
		if !finished[e] {
			out = append(out, e)
		}
	}
	return out, nil
}
