package push

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

// eventually waits for cond, polling, up to a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// startScheduler runs a pull scheduler that works the env's push jobs on
// its River client, polling every poll, until the test ends.
func startScheduler(t *testing.T, e *env, poll time.Duration) {
	t.Helper()
	pl := pull.New(pull.Options{Store: e.st, Config: e.cfg, Logger: storetest.Logger(t), PollInterval: poll,
		Client: func(string) (sdk.Client, error) { return e.client, nil }, Stages: []pull.JobStage{e.p}})
	require.NoError(t, pl.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		assert.NoError(t, pl.Stop(ctx))
	})
}

func TestQueuedPush(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		fast := withOptions(func(o *Options) { o.PollInterval = 50 * time.Millisecond; o.Now = nil })
		t.Run("an_accepted_upload_is_pushed_by_the_queue", func(t *testing.T) {
			e := newEnv(t, s, withSource("q1"), fast)
			e.pull()
			require.NoError(t, e.p.Start(context.Background()))
			c := create("account", "q-1", map[string]any{"name": "Queued", "owner": ref("user", "u1")})
			e.acceptOK(1, c)
			eventually(t, "the mutation applied", func() bool { return e.status(1, c.MutationID) == store.MutationApplied })
			_, ok := e.backend("account", "q-1")
			assert.True(t, ok)
		})
		t.Run("the_pull_scheduler_runs_push_jobs_on_its_own_river_client", func(t *testing.T) {
			e := newEnv(t, s, withSource("q2"), fast)
			e.pull()
			startScheduler(t, e, 50*time.Millisecond)
			c := create("account", "q-2", map[string]any{"name": "Queued", "owner": ref("user", "u1")})
			e.acceptOK(1, c)
			eventually(t, "the mutation applied", func() bool { return e.status(1, c.MutationID) == store.MutationApplied })
		})
		// With a poll a minute apart, only a wake-up gets the job run
		// within eventually's 20 s.
		slow := withOptions(func(o *Options) { o.PollInterval = time.Minute; o.Now = nil })
		t.Run("an_accepted_upload_is_pushed_without_waiting_for_the_poll", func(t *testing.T) {
			e := newEnv(t, s, withSource("q4"), slow)
			e.pull()
			require.NoError(t, e.p.Start(context.Background()))
			time.Sleep(200 * time.Millisecond) // the start's first fetch is over
			c := create("account", "q-4", map[string]any{"name": "Now", "owner": ref("user", "u1")})
			e.acceptOK(1, c)
			eventually(t, "the mutation applied", func() bool { return e.status(1, c.MutationID) == store.MutationApplied })
			// An upload accepted while no client was known waits for the
			// poll; an admin's trigger wakes the queue. First the queue is
			// emptied: the first upload queued two jobs, and the one a
			// worker had no room for may wait for the next poll, or run
			// now and push the second upload.
			jobs := func(states ...string) int64 {
				var n int64
				require.NoError(t, s.DB().Table("river_job").Where("queue = ? AND state IN ?", queue, states).Count(&n).Error)
				return n
			}
			// A loaded machine may run a job late: the queue is emptied
			// until it stays empty past the client's fetch cooldown.
			eventually(t, "the push queue empty", func() bool {
				if jobs("running") > 0 {
					return false
				}
				require.NoError(t, s.DB().Exec("DELETE FROM river_job WHERE queue = ? AND state IN ?", queue,
					[]string{"available", "pending", "retryable", "scheduled"}).Error)
				time.Sleep(200 * time.Millisecond) // past the client's fetch cooldown
				return jobs("available", "running") == 0
			})
			w := e.p.worker.Swap(nil)
			u := create("account", "q-5", map[string]any{"name": "Again", "owner": ref("user", "u1")})
			e.acceptOK(1, u)
			e.p.worker.Store(w)
			time.Sleep(300 * time.Millisecond)
			require.Equal(t, store.MutationPending, e.status(1, u.MutationID), "nothing woke the queue yet")
			require.NoError(t, e.p.Trigger(ctxT(t), e.source))
			eventually(t, "the triggered push applied it", func() bool { return e.status(1, u.MutationID) == store.MutationApplied })
		})
		t.Run("the_pull_scheduler_wakes_for_an_accepted_upload", func(t *testing.T) {
			e := newEnv(t, s, withSource("q5"), slow)
			e.pull()
			startScheduler(t, e, time.Minute)
			time.Sleep(200 * time.Millisecond)
			c := create("account", "q-6", map[string]any{"name": "Now", "owner": ref("user", "u1")})
			e.acceptOK(1, c)
			eventually(t, "the mutation applied", func() bool { return e.status(1, c.MutationID) == store.MutationApplied })
		})
		t.Run("a_retry_is_scheduled_for_when_it_is_due", func(t *testing.T) {
			e := newEnv(t, s, withSource("q3"), fast, withOptions(func(o *Options) {
				o.Backoff = func(int) time.Duration { return 300 * time.Millisecond }
			}))
			e.pull()
			fail := true
			e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
				if fail {
					fail = false
					return sdk.UploadResponse{}, &sdk.Error{Code: sdk.CodeUnavailable, Summary: "down"}
				}
				return next.Upload(ctx, req)
			}
			require.NoError(t, e.p.Start(context.Background()))
			c := create("account", "q-3", map[string]any{"name": "Later", "owner": ref("user", "u1")})
			e.acceptOK(1, c)
			eventually(t, "the retried mutation applied", func() bool { return e.status(1, c.MutationID) == store.MutationApplied })
			assert.Len(t, e.client.calls(), 2)
		})
	})
}

// TestTwoHubs: on PostgreSQL two hub instances share the store; one pushes
// a source at a time (a session advisory lock), so no op is sent twice.
func TestTwoHubs(t *testing.T) {
	s := storetest.Postgres(t)
	a := newEnv(t, s)
	a.pull()
	b := &env{t: t, source: a.source, st: s, cfg: a.cfg, clock: a.clock, conn: a.conn, client: a.client, opts: a.opts}
	b.restart()
	c := create("account", "two-1", map[string]any{"name": "Once", "owner": ref("user", "u1")})
	a.acceptOK(1, c)
	entered, release := make(chan struct{}), make(chan struct{})
	a.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
		close(entered)
		<-release
		return next.Upload(ctx, req)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.p.PushSource(context.Background(), a.source)
		done <- err
	}()
	<-entered
	_, err := b.p.PushSource(ctxT(t), a.source)
	assert.True(t, errors.Is(err, store.ErrLeaseHeld), "the second hub waits its turn: %v", err)
	close(release)
	require.NoError(t, <-done)
	a.client.upload = nil
	_, err = b.p.PushSource(ctxT(t), a.source)
	require.NoError(t, err)
	assert.Len(t, a.client.calls(), 1, "sent once")
	assert.Equal(t, store.MutationApplied, a.status(1, c.MutationID))
}
