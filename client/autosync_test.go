package client

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartCheck(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *env)
		ok     bool
		reason string
	}{
		{name: "runs_when_the_last_sync_is_old_enough", setup: func(e *env) { e.sync(); e.clock.Add(16 * time.Minute) }, ok: true},
		{name: "runs_on_a_device_that_never_synced", setup: func(e *env) {}, ok: true},
		{name: "skipped_when_the_last_sync_finished_less_than_15_minutes_ago",
			setup: func(e *env) { e.sync(); e.clock.Add(10 * time.Minute) }, reason: "last sync finished 10m0s ago"},
		{name: "skipped_without_saved_credentials",
			setup: func(e *env) { require.NoError(e.t, e.c.Logout(e.ctx)) }, reason: "no credentials saved"},
		{name: "skipped_while_unresolved_sync_errors_exist", setup: func(e *env) {
			e.hub.AddSyncError("crm", map[string]any{"id": "e1", "mutation_id": "m1", "entity": "account", "record_id": "a1",
				"reason": "conflict", "status": "unresolved"})
			e.sync()
			e.clock.Add(time.Hour)
		}, reason: "1 unresolved sync errors"},
		{name: "skipped_when_the_hub_is_unreachable", setup: func(e *env) { e.hub.Close() }, reason: "no network: hub unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			ok, reason := e.c.StartCheck(e.ctx)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.reason, reason)
		})
	}
}

// autoEnv opens a client whose automatic syncs are counted.
func autoEnv(t *testing.T) (*env, *atomic.Int32) {
	e := newEnv(t)
	var n atomic.Int32
	require.NoError(t, e.c.Close())
	e.c = e.open(Options{OnAutoSync: func(_ SyncReport, err error) {
		if err == nil {
			n.Add(1)
		}
	}})
	return e, &n
}

func runAuto(t *testing.T, e *env, mode SyncMode) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		assert.NoError(t, e.c.AutoSync(ctx, mode))
	}()
	return func() { cancel(); wg.Wait() }
}

func TestAutoSync(t *testing.T) {
	t.Run("never_does_nothing", func(t *testing.T) {
		e, n := autoEnv(t)
		require.NoError(t, e.c.AutoSync(e.ctx, SyncNever))
		assert.Zero(t, n.Load())
	})

	t.Run("on_start_syncs_once_when_no_rule_skips_it", func(t *testing.T) {
		e, n := autoEnv(t)
		require.NoError(t, e.c.AutoSync(e.ctx, SyncOnStart))
		assert.Equal(t, int32(1), n.Load())
		require.NoError(t, e.c.AutoSync(e.ctx, SyncOnStart))
		assert.Equal(t, int32(1), n.Load(), "skipped: synced moments ago")
	})

	t.Run("on_change_syncs_after_a_local_edit", func(t *testing.T) {
		e, n := autoEnv(t)
		e.sync()
		stop := runAuto(t, e, SyncOnChange)
		defer stop()
		_, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "Auto"})
		require.NoError(t, err)
		waitFor(t, "an automatic sync", func() bool { return n.Load() >= 1 })
		waitFor(t, "the edit to reach the hub", func() bool { return len(e.hub.Records("crm", "account")) == 1 })
	})

	t.Run("an_announced_change_wakes_a_sync", func(t *testing.T) {
		e, _ := autoEnv(t)
		e.sync()
		stop := runAuto(t, e, SyncOnChange)
		defer stop()
		waitFor(t, "the event stream", func() bool {
			for _, c := range e.hub.Calls() {
				if strings.HasPrefix(c, "GET /v1/sources/crm/events") {
					return true
				}
			}
			return false
		})
		e.hub.Put("crm", "account", "pushed", "", map[string]any{"name": "From the server"})
		polls := 0
		waitFor(t, "the announced record", func() bool {
			if polls++; polls%40 == 0 {
				e.hub.Notify("crm") // in case the first notice beat the stream's subscription
			}
			_, err := e.c.Get(e.ctx, "crm", "account", "pushed")
			return err == nil
		})
	})

	t.Run("an_unknown_mode_is_an_error", func(t *testing.T) {
		e, _ := autoEnv(t)
		require.Error(t, e.c.AutoSync(e.ctx, "sometimes"))
	})
}

func TestReadSSE(t *testing.T) {
	body := "retry: 5000\n: connected to crm\n\nid: 7\nevent: changes\ndata: {\"source\":\"crm\",\"seq\":7}\n\n: heartbeat\n\ndata: a\ndata: b\n\n"
	var got []sseEvent
	err := readSSE(strings.NewReader(body), func(ev sseEvent) { got = append(got, ev) })
	require.Error(t, err, "a stream that ends is an error: it should not")
	require.Len(t, got, 3)
	assert.Equal(t, 5*time.Second, got[0].Retry)
	assert.Equal(t, sseEvent{ID: "7", Event: "changes", Data: `{"source":"crm","seq":7}`}, got[1])
	assert.Equal(t, "a\nb", got[2].Data)
}
