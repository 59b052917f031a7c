package push

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
)

// queue is the River queue of push jobs.
const queue = "synchub_push"

// pushArgs asks for a push run of a source. At is set on the run scheduled
// for the next retry, so that runs scheduled for the same second collapse.
type pushArgs struct {
	Source string `json:"source"`
	At     int64  `json:"at,omitempty"`
}

func (pushArgs) Kind() string { return "synchub_push" }

// sweepArgs is the periodic check of every source.
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "synchub_push_sweep" }

type pushWorker struct {
	river.WorkerDefaults[pushArgs]
	p *Pusher
}

func (w *pushWorker) Timeout(*river.Job[pushArgs]) time.Duration { return w.p.opts.JobTimeout }

func (w *pushWorker) Work(ctx context.Context, job *river.Job[pushArgs]) error {
	// A run of the source under way in this process goes round once more
	// instead: the job is done.
	_, err := w.p.push(ctx, job.Args.Source, false)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownSource):
		return river.JobCancel(err)
	case errors.Is(err, ErrStopping):
		return river.JobSnooze(time.Second)
	case errors.Is(err, store.ErrLeaseHeld):
		// Another hub instance pushes the source; it goes round again
		// for whatever this job was queued for.
		return river.JobSnooze(5 * time.Second)
	}
	return err
}

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	p *Pusher
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	return w.p.Sweep(ctx)
}

// RegisterJobs adds the push workers to a River client's workers and
// returns the push queue and the periodic sweep, for pull.Options.Stages:
// the hub then runs one River client for both stages. Use it or Start, not
// both.
func (p *Pusher) RegisterJobs(workers *river.Workers) (map[string]river.QueueConfig, []*river.PeriodicJob, error) {
	if err := river.AddWorkerSafely(workers, &pushWorker{p: p}); err != nil {
		return nil, nil, fmt.Errorf("register push jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker{p: p}); err != nil {
		return nil, nil, fmt.Errorf("register push jobs: %w", err)
	}
	sweep := river.NewPeriodicJob(river.PeriodicInterval(p.opts.SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return sweepArgs{}, &river.InsertOpts{Queue: queue, MaxAttempts: 1,
				UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pull.UniqueStates()}}
		}, &river.PeriodicJobOpts{ID: "push_sweep", RunOnStart: true})
	return map[string]river.QueueConfig{queue: {MaxWorkers: p.opts.Workers}}, []*river.PeriodicJob{sweep}, nil
}

// Start runs push jobs on a River client of the pusher's own. A hub that
// runs the pull scheduler passes the pusher in pull.Options.Stages instead
// (one River client per process: see pull.JobStage).
func (p *Pusher) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.river != nil {
		return errors.New("push: already started")
	}
	if p.stopRequested() {
		return ErrStopping
	}
	client, err := pull.StartStageQueue(ctx, "push", pull.StageQueue{Store: p.st, Logger: p.log, Stage: p,
		JobTimeout: p.opts.JobTimeout, Rescue: 5 * time.Minute, PollInterval: p.opts.PollInterval, MaxAttempts: p.opts.MaxAttempts})
	if err != nil {
		return err
	}
	p.river = client
	return nil
}

// Stop ends push work: a run finishes the batch in flight (its results are
// recorded) and stops; the client Start made stops. A stopped Pusher does
// not start again; whatever is left is pushed after the next start.
func (p *Pusher) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { close(p.stopping) })
	p.mu.Lock()
	client := p.river
	p.mu.Unlock()
	return pull.StopQueue(ctx, client)
}

// enqueueTx queues a push run of source inside the caller's transaction.
func (p *Pusher) enqueueTx(ctx context.Context, tx *sql.Tx, source string) error {
	_, err := p.inserter.InsertTx(ctx, tx, pushArgs{Source: source},
		&river.InsertOpts{Queue: queue, MaxAttempts: p.opts.MaxAttempts})
	if err != nil {
		return fmt.Errorf("enqueue push of %s: %w", source, err)
	}
	return nil
}

// Trigger queues a push run of source now (admin retry, resolutions).
func (p *Pusher) Trigger(ctx context.Context, source string) error {
	if _, err := p.source(source); err != nil {
		return err
	}
	// Through the client that runs the jobs, when one runs here, so that
	// it looks for the job at once.
	client := p.worker.Load()
	if client == nil {
		client = p.inserter
	}
	_, err := client.Insert(ctx, pushArgs{Source: source}, &river.InsertOpts{Queue: queue, MaxAttempts: p.opts.MaxAttempts})
	if err != nil {
		return fmt.Errorf("enqueue push of %s: %w", source, err)
	}
	return nil
}

// UseClient is told the started client that runs the push jobs in this
// process (pull.ClientUser).
func (p *Pusher) UseClient(client *river.Client[*sql.Tx]) { p.worker.Store(client) }

// wake queues a push run of source through the client that runs the push
// jobs in this process, outside any transaction, so that the client looks
// for jobs at once instead of at its next poll (a job queued inside
// Accept's transaction waits for the poll, up to PollInterval). The job
// is unique while one of the source's waits or runs. Without such a
// client it does nothing; a failed insert is logged: the job queued with
// the mutations stands either way.
func (p *Pusher) wake(ctx context.Context, source string) {
	client := p.worker.Load()
	if client == nil || p.stopRequested() {
		return
	}
	_, err := client.Insert(ctx, pushArgs{Source: source}, &river.InsertOpts{Queue: queue, MaxAttempts: p.opts.MaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pull.UniqueStates()}})
	if err != nil {
		p.log.Warn("cannot wake the push queue; the push waits for its next poll", "source", source, "error", err)
	}
}

// scheduleNext queues a run for source's next due retry, if any.
func (p *Pusher) scheduleNext(ctx context.Context, source string) {
	at, ok, err := p.st.NextPushDue(ctx, source)
	if err != nil {
		p.log.Warn("cannot schedule the next push", "source", source, "error", err)
		return
	}
	if !ok {
		return
	}
	at = at.Truncate(time.Second).Add(time.Second)
	if !at.After(p.now()) {
		at = p.now().Truncate(time.Second).Add(time.Second)
	}
	_, err = p.inserter.Insert(ctx, pushArgs{Source: source, At: at.Unix()}, &river.InsertOpts{Queue: queue,
		ScheduledAt: at, MaxAttempts: p.opts.MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pull.UniqueStates()}})
	if err != nil {
		p.log.Warn("cannot schedule the next push", "source", source, "error", err)
	}
}

// Sweep pushes every source that has due work and prunes old record
// history. The periodic sweep job runs it; it picks up ops a crashed hub
// instance left behind and retries whose job was lost.
func (p *Pusher) Sweep(ctx context.Context) error {
	var errs []error
	for _, src := range p.cfg.Sources {
		at, ok, err := p.st.NextPushDue(ctx, src.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok || at.After(p.now()) {
			continue
		}
		if _, err := p.push(ctx, src.Name, false); err != nil && !errors.Is(err, store.ErrLeaseHeld) {
			errs = append(errs, err)
		}
	}
	if n, err := p.st.PruneRecordVersions(ctx, p.now().Add(-p.opts.HistoryRetention)); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		p.log.Debug("pruned record history", "versions", n)
	}
	return errors.Join(errs...)
}
