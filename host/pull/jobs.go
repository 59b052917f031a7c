package pull

import (
	"database/sql"
	"fmt"
	"log/slog"
	"maps"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
)

// JobStage is another pipeline stage (push) whose River jobs run on the
// pull scheduler's client. One River client per process keeps one leader
// election and one set of maintenance services: two clients on one
// database would compete for leadership, and only the leader's periodic
// jobs are enqueued.
type JobStage interface {
	// RegisterJobs adds the stage's workers and returns the queues they
	// run in and the stage's periodic jobs. Start calls it once, before
	// the client starts.
	RegisterJobs(workers *river.Workers) (queues map[string]river.QueueConfig, periodic []*river.PeriodicJob, err error)
}

// ClientUser is a JobStage that queues its own jobs through the client
// that runs them, once it has started: River wakes a poll-only client's
// fetch at once for a job inserted through that client outside a
// transaction, while a job inserted through another client, or inside a
// transaction, waits for the client's next poll.
type ClientUser interface {
	UseClient(client *river.Client[*sql.Tx])
}

// useClient hands a started client to the stages that want it.
func useClient(stages []JobStage, client *river.Client[*sql.Tx]) {
	for _, st := range stages {
		if u, ok := st.(ClientUser); ok {
			u.UseClient(client)
		}
	}
}

// stageJobs registers Options.Stages' workers and collects their queues and
// periodic jobs.
func (p *Puller) stageJobs(workers *river.Workers, queues map[string]river.QueueConfig) ([]*river.PeriodicJob, error) {
	var periodic []*river.PeriodicJob
	for _, st := range p.opts.Stages {
		q, per, err := st.RegisterJobs(workers)
		if err != nil {
			return nil, fmt.Errorf("register stage jobs: %w", err)
		}
		for name := range q {
			if _, dup := queues[name]; dup {
				return nil, fmt.Errorf("register stage jobs: queue %q is registered twice", name)
			}
		}
		maps.Copy(queues, q)
		periodic = append(periodic, per...)
	}
	return periodic, nil
}

// RiverLogger adapts an hclog logger for a River client (River's info is
// logged at debug), so other stages' River clients log as the scheduler's.
func RiverLogger(log hclog.Logger) *slog.Logger { return newSlog(log) }
