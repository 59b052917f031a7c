package pull

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/synchub/synchub/host/store"
)

// QueueDriver is the River driver for the store's database.
func QueueDriver(st *store.Store) riverdriver.Driver[*sql.Tx] {
	if st.Kind() == store.KindPostgres {
		return riverdatabasesql.New(st.SQLDB())
	}
	return riversqlite.New(st.SQLDB())
}

// NewInserter is a River client that only queues jobs (inside the caller's
// transactions): the stages enqueue with it whether or not this process
// works jobs.
func NewInserter(st *store.Store, log hclog.Logger) (*river.Client[*sql.Tx], error) {
	return river.NewClient(QueueDriver(st), &river.Config{Logger: RiverLogger(log.Named("queue"))})
}

// UniqueStates are the job states in which a job counts as already queued:
// the same request is not queued twice while one waits or runs.
func UniqueStates() []rivertype.JobState {
	return []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
		rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable}
}

// RetryBackoff is the stages' wait before attempt (1, 2, …) of a failed
// job: doubling from a second up to ten minutes, with ±20 % jitter so that
// work failed together does not return together.
func RetryBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 20)
	d = min(d, 10*time.Minute)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// StageQueue is how a stage that runs without the pull scheduler (tests,
// tools) starts a River client of its own for its jobs.
type StageQueue struct {
	Store        *store.Store
	Logger       hclog.Logger
	Stage        JobStage
	JobTimeout   time.Duration
	PollInterval time.Duration
	MaxAttempts  int
	// Rescue is how long after JobTimeout a job still running is taken
	// for dead and run again.
	Rescue time.Duration
}

// StartStageQueue registers the stage's jobs on a new River client and
// starts it. what names the stage in errors.
func StartStageQueue(ctx context.Context, what string, q StageQueue) (*river.Client[*sql.Tx], error) {
	workers := river.NewWorkers()
	queues, periodic, err := q.Stage.RegisterJobs(workers)
	if err != nil {
		return nil, err
	}
	client, err := river.NewClient(QueueDriver(q.Store), &river.Config{
		Logger:               RiverLogger(q.Logger.Named("queue")),
		Queues:               queues,
		Workers:              workers,
		PeriodicJobs:         periodic,
		JobTimeout:           q.JobTimeout,
		RescueStuckJobsAfter: q.JobTimeout + q.Rescue,
		FetchPollInterval:    q.PollInterval,
		FetchCooldown:        min(100*time.Millisecond, q.PollInterval),
		MaxAttempts:          q.MaxAttempts,
		// Neither driver here listens: database/sql has no LISTEN for River
		// and SQLite has none at all.
		PollOnly: true,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: start job queue: %w", what, err)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("%s: start job queue: %w", what, err)
	}
	useClient([]JobStage{q.Stage}, client)
	return client, nil
}

// StopQueue stops a River client: running jobs finish, or are cancelled
// when ctx ends first (given 10 s more to return).
func StopQueue(ctx context.Context, client *river.Client[*sql.Tx]) error {
	if client == nil {
		return nil
	}
	err := client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = client.StopAndCancel(cctx)
		cancel()
	}
	return err
}
