package pull_test

import (
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

func fastQueue(_ *config.Config, o *pull.Options) {
	o.PollInterval = 50 * time.Millisecond
	o.FreshWait = 20 * time.Second
}

// pulledOnce waits until every named entity has a successful pull.
func (e *env) pulledOnce(entities ...string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		for _, ent := range entities {
			if e.state(ent).LastSuccess == nil {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "entities %v pulled", entities)
}

func TestScheduler(t *testing.T) {
	t.Run("a_trigger_queues_a_pull_that_runs", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
			e := newEnv(t, s, fastQueue)
			require.NoError(t, e.p.Start(ctxT(t)))
			require.NoError(t, e.p.Trigger(ctxT(t), "crm", []string{"account"}, true))
			e.pulledOnce("account")
			assert.Nil(t, e.state("contact").LastSuccess, "only what was asked")
			require.NoError(t, e.p.Stop(ctxT(t)))
			assert.ErrorIs(t, e.p.Trigger(ctxT(t), "crm", nil, false), pull.ErrStopping)
		})
	})
	t.Run("a_source_with_an_interval_is_pulled_at_start", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
			e := newEnv(t, s, fastQueue, func(c *config.Config, _ *pull.Options) { c.Sources[0].Interval = time.Hour })
			require.NoError(t, e.p.Start(ctxT(t)))
			e.pulledOnce("user", "account", "contact")
		})
	})
	t.Run("ensure_fresh_pulls_stale_entities_and_waits_for_them", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
			e := newEnv(t, s, fastQueue, func(c *config.Config, _ *pull.Options) { c.Sources[0].MaxStaleness = time.Hour })
			require.NoError(t, e.p.Start(ctxT(t)))
			require.NoError(t, e.p.EnsureFresh(ctxT(t), "crm"))
			started := map[string]time.Time{}
			for _, ent := range []string{"user", "account", "contact"} {
				st := e.state(ent)
				require.NotNil(t, st.LastSuccess, "%s pulled before EnsureFresh returned", ent)
				started[ent] = *st.LastPullStarted
			}
			require.NoError(t, e.p.EnsureFresh(ctxT(t), "crm"))
			for ent, at := range started {
				assert.True(t, at.Equal(*e.state(ent).LastPullStarted), "%s is fresh: not pulled again", ent)
			}
		})
	})
	t.Run("ensure_fresh_pulls_again_once_the_memo_is_stale", func(t *testing.T) {
		// EnsureFresh remembers the last successes it read; the memo
		// must not outlive max_staleness.
		const stale = 300 * time.Millisecond
		e := newEnv(t, storetest.SQLite(t), fastQueue, func(c *config.Config, _ *pull.Options) { c.Sources[0].MaxStaleness = stale })
		require.NoError(t, e.p.EnsureFresh(ctxT(t), "crm"))
		first := *e.state("account").LastPullStarted
		require.NoError(t, e.p.EnsureFresh(ctxT(t), "crm"))
		if time.Since(first) < stale/2 {
			assert.True(t, first.Equal(*e.state("account").LastPullStarted), "fresh: not pulled again")
		}
		time.Sleep(stale + 50*time.Millisecond)
		require.NoError(t, e.p.EnsureFresh(ctxT(t), "crm"))
		assert.True(t, e.state("account").LastPullStarted.After(first), "stale by now: pulled again")
	})
	t.Run("ensure_fresh_without_the_queue_pulls_in_process", func(t *testing.T) {
		e := newEnv(t, storetest.SQLite(t), fastQueue)
		require.NoError(t, e.p.EnsureFresh(ctxT(t), "crm"))
		assert.NotNil(t, e.state("account").LastSuccess)
	})
	t.Run("ensure_fresh_waits_no_longer_than_its_bound", func(t *testing.T) {
		release := make(chan struct{})
		e := newEnv(t, storetest.SQLite(t), func(_ *config.Config, o *pull.Options) { o.FreshWait = 50 * time.Millisecond })
		e.client.beforeFetch = func(sdk.FetchRequest) { <-release }
		defer close(release)
		start := time.Now()
		require.NoError(t, e.p.EnsureFresh(ctxT(t), "crm"))
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Nil(t, e.state("account").LastSuccess, "returned before the pull finished")
	})
}

// TestOneInstancePullsASource runs two hub instances on one PostgreSQL
// schema: while one pulls a source, the other is refused it.
func TestOneInstancePullsASource(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skip(storetest.EnvPostgres + " not set")
	}
	dsn := storetest.PostgresDSN(t)
	open := func() *store.Store {
		s, err := store.Open(ctxT(t), store.Options{Kind: store.KindPostgres, DSN: dsn, Logger: storetest.Logger(t)})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newEnv(t, open()), newEnv(t, open())
	inside, release := make(chan struct{}), make(chan struct{})
	a.client.beforePage = func(_ sdk.FetchRequest, n int) {
		if n == 1 {
			close(inside)
			<-release
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.p.PullEntity(ctxT(t), "crm", "account", false)
		done <- err
	}()
	<-inside
	_, err := b.p.PullEntity(ctxT(t), "crm", "contact", false)
	assert.ErrorIs(t, err, pull.ErrBusy)
	close(release)
	require.NoError(t, <-done)
	_, err = b.p.PullEntity(ctxT(t), "crm", "contact", false)
	assert.NoError(t, err, "free again once the first instance is done")
}

func TestMetricsAndNotify(t *testing.T) {
	reg := prometheus.NewRegistry()
	type note struct {
		partitions []string
		seq        int64
	}
	var notes []note
	e := newEnv(t, storetest.SQLite(t), func(_ *config.Config, o *pull.Options) {
		o.Metrics = reg
		o.Notify = func(_ string, partitions []string, seq int64) { notes = append(notes, note{partitions, seq}) }
	})
	e.pull("account", false)
	assert.InDelta(t, 4, counterValue(t, reg, "synchub_pull_pages_total"), 0)
	n, err := testutil.GatherAndCount(reg, "synchub_pull_records_total", "synchub_pull_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 3+1, n, "three change kinds and one duration series")
	require.Len(t, notes, 4)
	assert.Equal(t, []string{"account/owner=u1", "account/owner=u2", "account/owner=u3"}, notes[0].partitions)
	assert.EqualValues(t, 10, notes[3].seq)
}

// counterValue returns the value of a counter's only series.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
