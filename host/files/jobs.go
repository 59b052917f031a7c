package files

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/sdk"
)

// listQueue is the River queue of listings (any instance may run one).
const listQueue = "synchub_files"

// listArgs is a queued listing of a source.
type listArgs struct {
	Source string `json:"source"`
	Full   bool   `json:"full,omitempty"`
}

func (listArgs) Kind() string { return "synchub_files_list" }

// uploadArgs is a queued upload, worked on the queue of the instance that
// spooled it.
type uploadArgs struct {
	ID string `json:"id"`
}

func (uploadArgs) Kind() string { return "synchub_files_upload" }

type listWorker struct {
	river.WorkerDefaults[listArgs]
	s *Syncer
}

func (w *listWorker) Timeout(*river.Job[listArgs]) time.Duration { return w.s.opts.JobTimeout }

func (w *listWorker) Work(ctx context.Context, job *river.Job[listArgs]) error {
	_, err := w.s.SyncSource(ctx, job.Args.Source, job.Args.Full)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownSource), errors.Is(err, ErrNoFiles):
		return river.JobCancel(err)
	case errors.Is(err, ErrStopping):
		return river.JobSnooze(time.Second)
	case errors.Is(err, ErrBusy):
		return river.JobSnooze(30 * time.Second)
	}
	return err
}

type uploadWorker struct {
	river.WorkerDefaults[uploadArgs]
	s *Syncer
}

func (w *uploadWorker) Timeout(*river.Job[uploadArgs]) time.Duration { return w.s.opts.JobTimeout }

// NextRetry backs off like the push stage: 1s doubling to 10m.
func (w *uploadWorker) NextRetry(job *river.Job[uploadArgs]) time.Time {
	return time.Now().Add(w.s.opts.Backoff(job.Attempt))
}

func (w *uploadWorker) Work(ctx context.Context, job *river.Job[uploadArgs]) error {
	err := w.s.runUpload(ctx, job.Args.ID, job.Attempt >= job.MaxAttempts)
	var perm errPermanent
	var ra retryAfter
	switch {
	case err == nil:
		return nil
	case errors.As(err, &perm):
		return river.JobCancel(err)
	case errors.As(err, &ra) && ra.after > w.s.opts.Backoff(job.Attempt) && job.Attempt < job.MaxAttempts:
		return river.JobSnooze(ra.after)
	}
	return err
}

// RegisterJobs adds the file stage's workers to a River client's workers
// and returns its queues and a periodic listing per listing source with an
// interval, for pull.Options.Stages: the hub runs one River client for
// every stage. Use it or Start, not both.
func (s *Syncer) RegisterJobs(workers *river.Workers) (map[string]river.QueueConfig, []*river.PeriodicJob, error) {
	if err := river.AddWorkerSafely(workers, &listWorker{s: s}); err != nil {
		return nil, nil, fmt.Errorf("register file jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &uploadWorker{s: s}); err != nil {
		return nil, nil, fmt.Errorf("register file jobs: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CallTimeout)
	defer cancel()
	var periodic []*river.PeriodicJob
	for _, name := range s.ListingSources(ctx) {
		src, _ := s.cfg.Source(name)
		if src.Interval <= 0 {
			continue
		}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(src.Interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return listArgs{Source: name}, &river.InsertOpts{Queue: listQueue,
					UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pull.UniqueStates()}}
			}, &river.PeriodicJobOpts{ID: "files:" + name, RunOnStart: true}))
	}
	s.mu.Lock()
	s.registered = true
	s.mu.Unlock()
	return map[string]river.QueueConfig{
		listQueue:     {MaxWorkers: s.opts.Workers},
		s.uploadQueue: {MaxWorkers: s.opts.Workers},
	}, periodic, nil
}

// Start runs the stage's jobs on a River client of its own, for use
// without the pull scheduler (which otherwise runs them through
// RegisterJobs).
func (s *Syncer) Start(ctx context.Context) error {
	s.mu.Lock()
	started := s.river != nil || s.registered
	s.mu.Unlock()
	if started {
		return errors.New("files: already started")
	}
	if s.stopRequested() {
		return ErrStopping
	}
	client, err := pull.StartStageQueue(ctx, "files", pull.StageQueue{Store: s.st, Logger: s.log, Stage: s,
		JobTimeout: s.opts.JobTimeout, Rescue: 15 * time.Minute, PollInterval: s.opts.PollInterval, MaxAttempts: s.opts.MaxAttempts})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.river = client
	s.mu.Unlock()
	return nil
}

// Stop ends the stage's work: listings stop after the page in flight (they
// resume from it), and the client Start made stops.
func (s *Syncer) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	s.mu.Lock()
	client := s.river
	s.mu.Unlock()
	err := pull.StopQueue(ctx, client)
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("stop files: %w", ctx.Err()))
	}
	return err
}

// Trigger queues a listing of source (in full when full is set) and
// returns once it is queued. The same request already waiting or running
// is not queued twice. Without a scheduler (neither Start nor
// RegisterJobs), the listing runs in a goroutine of this process.
func (s *Syncer) Trigger(ctx context.Context, source string, full bool) error {
	src, err := s.source(source)
	if err != nil {
		return fmt.Errorf("trigger file listing: %w", err)
	}
	d, err := s.describe(ctx, src.Name)
	if err != nil {
		return fmt.Errorf("trigger file listing of %s: %w", source, err)
	}
	if !d.Has(sdk.CapListFiles) {
		return fmt.Errorf("trigger file listing: source %q: %w", source, ErrNoFiles)
	}
	if s.stopRequested() {
		return fmt.Errorf("trigger file listing of %s: %w", source, ErrStopping)
	}
	s.mu.Lock()
	scheduled := s.registered || s.river != nil
	s.mu.Unlock()
	if scheduled {
		_, err := s.inserter.Insert(ctx, listArgs{Source: source, Full: full}, &river.InsertOpts{Queue: listQueue,
			UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pull.UniqueStates()}})
		if err != nil {
			return fmt.Errorf("trigger file listing of %s: %w", source, err)
		}
		return nil
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.JobTimeout)
		defer cancel()
		if _, err := s.SyncSource(ctx, source, full); err != nil && !errors.Is(err, ErrStopping) {
			s.log.Warn("triggered file listing failed", "source", source, "error", err)
		}
	}()
	return nil
}
