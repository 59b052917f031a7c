package pull_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

func owner(u string) map[string]any { return map[string]any{"entity": "user", "id": u} }

// TestFullThenIncremental walks one entity through the changes a back end
// sees and checks, after each incremental pull, exactly what two users'
// devices download from their partitions.
//
// Seed (memconn): acc-000i is owned by u(i mod 3 + 1); the filter drops
// Oslo (acc-0002, acc-0006, acc-0010). So u1 starts with acc-0003 and
// acc-0009, u2 with acc-0001, acc-0004 and acc-0007.
func TestFullThenIncremental(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, func(c *config.Config, _ *pull.Options) {
			c.Sources[0].Entities[1].Filter = "city ne 'Oslo'"
		})
		u1 := newDevice([]string{"account/owner=u1"})
		u2 := newDevice([]string{"account/owner=u2"})

		res := e.pull("account", false)
		assert.Equal(t, pull.ModeFull, res.Mode, "no cursor yet: full")
		assert.Equal(t, 7, res.Changed)
		assert.Equal(t, 3, res.Pages, "filter pushed down: 7 of 10 records in pages of 3")
		assert.NotNil(t, e.client.lastFetch().Filter, "the filter went to the connector")
		assert.Equal(t, []string{"put account/acc-0003", "put account/acc-0009"}, u1.sync(t, s, 1))
		assert.Equal(t, []string{"put account/acc-0001", "put account/acc-0004", "put account/acc-0007"}, u2.sync(t, s, 2))

		steps := []struct {
			name    string
			edit    func(c *memconn.Connector)
			u1, u2  []string
			sameSeq bool
		}{
			{"an_insert_reaches_its_owner_only", func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0100", "name": "New", "city": "Paris", "owner": owner("u1")})
			}, []string{"put account/acc-0100"}, nil, false},
			{"an_update_is_a_put", func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0003", "name": "Renamed"})
			}, []string{"put account/acc-0003"}, nil, false},
			{"a_delete_is_a_remove", func(c *memconn.Connector) {
				c.Delete("account", "acc-0009")
			}, []string{"remove account/acc-0009"}, nil, false},
			{"a_record_that_leaves_the_filter_is_removed", func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0004", "city": "Oslo"})
			}, nil, []string{"remove account/acc-0004"}, false},
			{"a_record_that_enters_the_filter_is_put", func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0006", "city": "Paris"})
			}, []string{"put account/acc-0006"}, nil, false},
			{"an_owner_move_removes_from_the_old_owner_and_puts_to_the_new", func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0001", "owner": owner("u1")})
			}, []string{"put account/acc-0001"}, []string{"remove account/acc-0001"}, false},
			{"a_change_outside_every_partition_of_interest_is_not_seen", func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0005", "name": "Other"}) // u3's
			}, nil, nil, false},
			{"nothing_changed_means_nothing_to_download", func(*memconn.Connector) {}, nil, nil, true},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				before := e.seq()
				step.edit(e.conn)
				res := e.pull("account", false)
				assert.Equal(t, pull.ModeIncremental, res.Mode)
				assert.Equal(t, step.u1, nilIfEmpty(u1.sync(t, s, 1)), "u1")
				assert.Equal(t, step.u2, nilIfEmpty(u2.sync(t, s, 1)), "u2")
				if step.sameSeq {
					assert.Equal(t, before, e.seq(), "no seq used")
				}
			})
		}
		assert.Equal(t, mirror(t, s, []string{"account/owner=u1"}), u1.have)
		assert.Equal(t, mirror(t, s, []string{"account/owner=u2"}), u2.have)
		n, err := s.CountRecords(ctxT(t), "crm", "account")
		require.NoError(t, err)
		assert.EqualValues(t, 7, n, "10 - 3 Oslo + 1 new - 1 deleted - 1 left + 1 entered")
		assert.EqualValues(t, n, e.state("account").Records)
	})
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestUnchangedVersionIsNoChange(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull("account", false)
		seq := e.seq()
		res := e.pull("account", true)
		assert.Equal(t, pull.ModeFull, res.Mode)
		assert.Equal(t, 10, res.Unchanged, "a forced full pass sees every record unchanged")
		assert.Zero(t, res.Changed)
		assert.Zero(t, res.Removed)
		assert.Equal(t, seq, e.seq(), "no new seq")
		items, _ := itemStats(t, s)
		assert.Equal(t, 10, items)
	})
}

// TestInterruptedPullResumes cuts a full pass after its second page and
// checks that the next pull resumes at the third, leaving every record
// exactly once with one seq each.
func TestInterruptedPullResumes(t *testing.T) {
	tests := []struct {
		name string
		cut  func(e *env, cancel context.CancelFunc)
	}{
		{"the_connector_fails_on_the_third_page", func(e *env, _ context.CancelFunc) {
			e.conn.SetFault(memconn.Fault{Call: "fetch", Kind: memconn.FaultError, Times: 1, AfterPages: 2})
		}},
		{"the_context_is_cancelled_while_the_second_page_is_received", func(e *env, cancel context.CancelFunc) {
			e.client.beforePage = func(_ sdk.FetchRequest, n int) {
				if n == 2 {
					cancel()
				}
			}
		}},
		{"the_puller_is_stopped_while_the_second_page_is_received", func(e *env, _ context.CancelFunc) {
			e.client.beforePage = func(_ sdk.FetchRequest, n int) {
				if n == 2 {
					require.NoError(e.t, e.p.Stop(context.Background()))
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
				e := newEnv(t, s)
				ctx, cancel := context.WithCancel(ctxT(t))
				tt.cut(e, cancel)
				res, err := e.p.PullEntity(ctx, "crm", "account", false)
				require.Error(t, err)
				assert.Equal(t, 2, res.Pages, "two pages committed")
				st := e.state("account")
				assert.True(t, st.FullRunning)
				assert.Contains(t, st.FullCursor, ":acc-0006")
				assert.Equal(t, "", st.Cursor)

				// A new puller (as after a restart) resumes.
				e.client.beforePage = nil
				p2 := pull.New(pull.Options{Store: s, Config: e.cfg, Logger: storetest.Logger(t),
					Client: func(string) (sdk.Client, error) { return e.client, nil }})
				res, err = p2.PullEntity(ctxT(t), "crm", "account", false)
				require.NoError(t, err)
				assert.Equal(t, pull.ModeFull, res.Mode)
				assert.Equal(t, st.FullCursor, e.client.lastFetch().Cursor, "resumed from the last committed page")
				assert.Equal(t, 4, res.Changed, "only the records after the cut")
				items, maxSeq := itemStats(t, s)
				assert.Equal(t, 10, items)
				assert.EqualValues(t, 10, maxSeq, "no gap and no seq spent twice")
				assert.False(t, e.state("account").FullRunning)
				d := newDevice(e.partitions("u1"))
				d.sync(t, s, 3)
				assert.Len(t, d.have, 3, "u1 owns 3 accounts")
			})
		})
	}
}

func TestCursorExpiredRunsAFullPassThatReconciles(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull("account", false)
		u2 := newDevice([]string{"account/owner=u2"})
		u2.sync(t, s, 10)

		// Meanwhile the back end forgot our cursor and deleted a record.
		require.NoError(t, s.SetCursor(ctxT(t), "crm", "account", "unknown-cursor"))
		e.conn.Delete("account", "acc-0004")
		e.conn.Put("account", map[string]any{"id": "acc-0001", "name": "Changed"})

		res := e.pull("account", false)
		assert.Equal(t, pull.ModeFull, res.Mode)
		assert.Equal(t, 1, res.Reconciled, "the record deleted meanwhile is reconciled away")
		assert.Equal(t, 1, res.Changed)
		assert.Equal(t, 8, res.Unchanged)
		assert.Equal(t, []string{"put account/acc-0001", "remove account/acc-0004"}, u2.sync(t, s, 10))
		assert.Equal(t, mirror(t, s, []string{"account/owner=u2"}), u2.have)
		assert.NotEqual(t, "unknown-cursor", e.state("account").Cursor)
	})
}

func TestSchemaChangeForcesAFullPass(t *testing.T) {
	projected := []string{"name", "owner"}
	tests := []struct {
		name        string
		fields      []string
		change      func(e *env)
		wantChanged int
		wantRemoved int
	}{
		{"the_connector_adds_a_field_to_an_entity_synced_whole", nil, func(e *env) {
			e.client.schema = func(s sdk.Schema) sdk.Schema {
				for i := range s.Entities {
					s.Entities[i].Fields = append(slices.Clone(s.Entities[i].Fields), sdk.Field{Name: "rating", Type: sdk.TypeInt})
				}
				return s
			}
		}, 0, 0},
		{"the_connector_changes_the_type_of_a_synced_field", projected, func(e *env) {
			e.client.schema = func(s sdk.Schema) sdk.Schema {
				for i := range s.Entities {
					fs := slices.Clone(s.Entities[i].Fields)
					for j := range fs {
						if fs[j].Name == "name" {
							fs[j].Type = sdk.TypeText
						}
					}
					s.Entities[i].Fields = fs
				}
				return s
			}
		}, 0, 0},
		{"the_config_adds_a_field", projected, func(e *env) {
			e.entity("account").Fields = []string{"name", "owner", "city"}
		}, 10, 0},
		{"the_config_changes_the_filter", projected, func(e *env) {
			e.entity("account").Filter = "city ne 'Oslo'"
		}, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
				e := newEnv(t, s, func(c *config.Config, _ *pull.Options) {
					c.Sources[0].Entities[1].Fields = tt.fields
				})
				e.pull("account", false)
				if tt.fields != nil {
					r, err := s.GetRecord(ctxT(t), "crm", "account", "acc-0001")
					require.NoError(t, err)
					assert.JSONEq(t, `{"name":"Account 1","owner":{"entity":"user","id":"u2"}}`, string(r.Fields), "projected")
				}
				assert.Equal(t, pull.ModeIncremental, e.pull("account", false).Mode)

				tt.change(e)
				res := e.pull("account", false)
				assert.Equal(t, pull.ModeFull, res.Mode)
				assert.Equal(t, tt.wantChanged, res.Changed)
				assert.Equal(t, tt.wantRemoved, res.Removed)
				assert.Equal(t, pull.ModeIncremental, e.pull("account", false).Mode, "and then incremental again")
				if tt.wantChanged > 0 {
					r, err := s.GetRecord(ctxT(t), "crm", "account", "acc-0001")
					require.NoError(t, err)
					assert.JSONEq(t, `{"name":"Account 1","city":"Berlin","owner":{"entity":"user","id":"u2"}}`, string(r.Fields))
				}
			})
		})
	}
}

func TestDeleteFeed(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull("contact", false)
		st := e.state("contact")
		assert.NotEmpty(t, st.DeleteCursor, "the full pass made its delete cursor current")
		assert.Empty(t, st.PendingDeleteCursor)
		u2 := newDevice([]string{"contact/owner=u2"})
		u2.sync(t, s, 10)

		e.conn.Delete("contact", "con-0001")
		e.conn.Put("contact", map[string]any{"id": "con-0004", "name": "Changed"})
		res := e.pull("contact", false)
		assert.Equal(t, pull.ModeIncremental, res.Mode)
		assert.Equal(t, 1, res.Removed)
		assert.Equal(t, 1, res.Changed)
		assert.Equal(t, []string{"remove contact/con-0001", "put contact/con-0004"}, u2.sync(t, s, 10))
		assert.Equal(t, mirror(t, s, []string{"contact/owner=u2"}), u2.have)
	})
}

func TestIDReconciliation(t *testing.T) {
	tests := []struct {
		name        string
		interval    time.Duration
		wantRemoved int
	}{
		{"a_connector_without_delete_tracking_is_reconciled_by_ids_when_due", -1, 1},
		{"reconciliation_waits_for_its_interval", time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
				e := newEnv(t, s, func(_ *config.Config, o *pull.Options) { o.ReconcileInterval = tt.interval })
				e.pull("user", false)
				e.conn.Delete("user", "u3")
				res := e.pull("user", false)
				assert.Equal(t, pull.ModeIncremental, res.Mode)
				assert.Equal(t, tt.wantRemoved, res.Removed)
				n, err := s.CountRecords(ctxT(t), "crm", "user")
				require.NoError(t, err)
				assert.EqualValues(t, 3-tt.wantRemoved, n)
			})
		})
	}
}

func TestParallelEntities(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, func(c *config.Config, _ *pull.Options) { c.Hub.PullConcurrency = 2 })
		var (
			mu       sync.Mutex
			inflight int
			peak     int
			arrived  int
			both     = make(chan struct{})
		)
		e.client.beforeFetch = func(sdk.FetchRequest) {
			mu.Lock()
			inflight++
			arrived++
			peak = max(peak, inflight)
			if arrived == 2 {
				close(both)
			}
			first := arrived <= 2
			mu.Unlock()
			if first {
				// The first two fetches wait for each other: proof that
				// they run at once.
				select {
				case <-both:
				case <-time.After(10 * time.Second):
					t.Error("the first two entities did not pull in parallel")
				}
			}
		}
		e.client.Client = doneHook{Client: e.client.Client, done: func() {
			mu.Lock()
			inflight--
			mu.Unlock()
		}}
		require.NoError(t, e.p.PullSource(ctxT(t), "crm", nil, false))
		assert.Equal(t, 2, peak, "at most pull_concurrency at once")
		for _, ent := range []string{"user", "account", "contact"} {
			st := e.state(ent)
			assert.NotNil(t, st.LastSuccess, ent)
			assert.Empty(t, st.LastError, ent)
		}
	})
}

type doneHook struct {
	sdk.Client
	done func()
}

func (d doneHook) Fetch(ctx context.Context, req sdk.FetchRequest, recv func(sdk.Page) error) error {
	defer d.done()
	return d.Client.Fetch(ctx, req, recv)
}

// TestDeviceView syncs devices from an empty checkpoint, lets the back end
// change across every entity, pulls, syncs incrementally, and compares each
// device's copy with a direct query of the mirror for its partitions.
func TestDeviceView(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, func(_ *config.Config, o *pull.Options) { o.ReconcileInterval = -1 })
		require.NoError(t, e.p.PullSource(ctxT(t), "crm", nil, false))
		users := []string{"u1", "u2", "u3", ""}
		devices := map[string]*device{}
		for _, u := range users {
			devices[u] = newDevice(e.partitions(u))
			devices[u].sync(t, s, 4)
		}
		rounds := []func(c *memconn.Connector){
			func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0003", "owner": owner("u2")})
				c.Put("contact", map[string]any{"id": "con-0002", "owner": owner("u1")})
				c.Delete("contact", "con-0005")
				c.Put("user", map[string]any{"id": "u4", "name": "User 4"})
			},
			func(c *memconn.Connector) {
				c.Put("account", map[string]any{"id": "acc-0003", "owner": owner("u1")})
				c.Delete("account", "acc-0007")
				c.Delete("user", "u1")
				c.Put("account", map[string]any{"id": "acc-0200", "name": "Nobody's", "owner": nil})
			},
			func(c *memconn.Connector) {
				for i := range 5 {
					c.Put("contact", map[string]any{"name": "Bulk", "owner": owner([]string{"u1", "u2", "u3"}[i%3])})
				}
			},
		}
		for i, edit := range rounds {
			edit(e.conn)
			require.NoError(t, e.p.PullSource(ctxT(t), "crm", nil, false), "round %d", i)
			for _, u := range users {
				devices[u].sync(t, s, 4)
			}
		}
		for _, u := range users {
			assert.Equal(t, mirror(t, s, e.partitions(u)), devices[u].have, "device of %q", u)
		}
		assert.Len(t, devices[""].have, 3, "no identity: only the users everyone sees")
		_, err := s.GetRecord(ctxT(t), "crm", "account", "acc-0200")
		assert.NoError(t, err, "a record in no partition is mirrored")
		for _, u := range users {
			_, seen := devices[u].have["account/acc-0200"]
			assert.False(t, seen, "but reaches no device")
		}
	})
}

func TestUnknownSourceOrEntity(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	_, err := e.p.PullEntity(ctxT(t), "nope", "account", false)
	assert.ErrorIs(t, err, pull.ErrUnknown)
	_, err = e.p.PullEntity(ctxT(t), "crm", "nope", false)
	assert.ErrorIs(t, err, pull.ErrUnknown)
}

func TestConnectorErrorIsRecorded(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.conn.SetFault(memconn.Fault{Call: "fetch", Kind: memconn.FaultError, Times: 1})
	_, err := e.p.PullEntity(ctxT(t), "crm", "account", false)
	require.Error(t, err)
	var sdkErr *sdk.Error
	assert.True(t, errors.As(err, &sdkErr))
	assert.Contains(t, err.Error(), "pull crm/account")
	st := e.state("account")
	assert.Contains(t, st.LastError, "injected failure")
	assert.Nil(t, st.LastSuccess)
	e.pull("account", false)
	st = e.state("account")
	assert.Empty(t, st.LastError, "a success clears the error")
	assert.NotNil(t, st.LastSuccess)
}
