package pull

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/synchub/synchub/host/store"
)

// QueueDriver is the River driver for the store's database.
func QueueDriver(st *store.Store) riverdriver.Driver[*sql.Tx] {
	if st.Kind() == store.KindPostgres {
		return riverdatabasesql.New(st.SQLDB())
	}
	return riversqlite.New(st.SQLDB())
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
