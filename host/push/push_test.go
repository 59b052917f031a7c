package push

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

func TestPush(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		t.Run("a_create_and_its_update_go_as_one_create_and_reach_the_mirror", func(t *testing.T) {
			e := newEnv(t, s, withSource("crm1"))
			e.pull()
			c := create("account", "new-1", map[string]any{"name": "New", "owner": ref("user", "u1"), "city": "Oslo"})
			u := update("account", "new-1", "", map[string]any{"city": "Rome"})
			e.acceptOK(1, c, u)
			e.push()
			require.Len(t, e.client.calls(), 1)
			require.Len(t, e.client.calls()[0].Ops, 1)
			assert.Equal(t, sdk.OpCreate, e.client.calls()[0].Ops[0].Kind)
			assert.Equal(t, store.MutationApplied, e.status(1, c.MutationID))
			assert.Equal(t, store.MutationApplied, e.status(1, u.MutationID))
			f, ok := e.backend("account", "new-1")
			require.True(t, ok)
			assert.Equal(t, "Rome", f["city"])
			mf, _, ok := e.record("account", "new-1")
			require.True(t, ok)
			assert.Equal(t, "Rome", mf["city"])
			applied, reached, err := e.p.Applied(ctxT(t), e.source, 1, 0, 1<<40, 100)
			require.NoError(t, err)
			assert.Equal(t, int64(1<<40), reached)
			assert.ElementsMatch(t, []Applied{{MutationID: c.MutationID}, {MutationID: u.MutationID}}, applied)
		})
		t.Run("an_update_then_a_delete_go_as_one_delete", func(t *testing.T) {
			e := newEnv(t, s, withSource("crm2"))
			e.pull()
			_, v, ok := e.record("account", "acc-0003")
			require.True(t, ok)
			u := update("account", "acc-0003", v, map[string]any{"city": "Rome"})
			d := del("account", "acc-0003", v)
			e.acceptOK(1, u, d)
			e.push()
			require.Len(t, e.client.calls(), 1)
			assert.Equal(t, sdk.OpDelete, e.client.calls()[0].Ops[0].Kind)
			_, ok = e.backend("account", "acc-0003")
			assert.False(t, ok)
			_, _, ok = e.record("account", "acc-0003")
			assert.False(t, ok)
			assert.Equal(t, store.MutationApplied, e.status(1, d.MutationID))
		})
		t.Run("a_create_then_a_delete_send_nothing_and_are_reported_with_no_effect", func(t *testing.T) {
			e := newEnv(t, s, withSource("crm3"))
			e.pull()
			c := create("account", "gone-1", map[string]any{"name": "Gone", "owner": ref("user", "u1")})
			d := del("account", "gone-1", "")
			e.acceptOK(1, c)
			e.acceptOK(1, d)
			e.push()
			assert.Empty(t, e.client.calls())
			assert.Equal(t, store.MutationNoEffect, e.status(1, c.MutationID))
			applied, _, err := e.p.Applied(ctxT(t), e.source, 1, 0, 1<<40, 100)
			require.NoError(t, err)
			assert.ElementsMatch(t, []Applied{{MutationID: c.MutationID, NoEffect: true}, {MutationID: d.MutationID, NoEffect: true}}, applied)
		})
		t.Run("a_later_edit_of_the_device_is_rebased_on_the_version_its_earlier_edit_made", func(t *testing.T) {
			e := newEnv(t, s, withSource("crm4"))
			e.pull()
			_, v, _ := e.record("account", "acc-0003")
			u1 := update("account", "acc-0003", v, map[string]any{"city": "Rome"})
			e.acceptOK(1, u1)
			e.push()
			u2 := update("account", "acc-0003", v, map[string]any{"name": "Renamed"})
			e.acceptOK(1, u2)
			e.push()
			assert.Equal(t, store.MutationApplied, e.status(1, u2.MutationID))
			f, _ := e.backend("account", "acc-0003")
			assert.Equal(t, "Rome", f["city"])
			assert.Equal(t, "Renamed", f["name"])
		})
		t.Run("an_edit_accepted_while_the_earlier_edit_is_in_flight_is_rebased_when_it_is_applied", func(t *testing.T) {
			e := newEnv(t, s, withSource("crm6"))
			e.pull()
			_, v, _ := e.record("account", "acc-0003")
			u1 := update("account", "acc-0003", v, map[string]any{"city": "Rome"})
			u2 := update("account", "acc-0003", v, map[string]any{"name": "Renamed"})
			e.acceptOK(1, u1)
			sent := 0
			e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
				if sent++; sent == 1 {
					// The device syncs again while its first edit is on
					// its way, based on the version it had.
					e.acceptOK(1, u2)
				}
				return next.Upload(ctx, req)
			}
			e.push()
			require.Len(t, e.client.calls(), 2)
			assert.NotEqual(t, v, e.client.calls()[1].Ops[0].BaseVersion, "the second edit goes against the version the first made")
			assert.Equal(t, store.MutationApplied, e.status(1, u1.MutationID))
			assert.Equal(t, store.MutationApplied, e.status(1, u2.MutationID))
			f, _ := e.backend("account", "acc-0003")
			assert.Equal(t, "Rome", f["city"])
			assert.Equal(t, "Renamed", f["name"])
		})
		t.Run("a_resent_upload_is_accepted_again_and_changes_nothing", func(t *testing.T) {
			e := newEnv(t, s, withSource("crm5"))
			e.pull()
			c := create("account", "twice-1", map[string]any{"name": "Twice", "owner": ref("user", "u1")})
			e.acceptOK(1, c)
			e.push()
			e.acceptOK(1, c)
			e.push()
			assert.Len(t, e.client.calls(), 1)
			assert.Equal(t, 11, e.conn.Count("account"))
		})
	})
}

func TestPushParentsFirstAndIDMapping(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull()
		// The back end keys creates itself: "srv-<client id>".
		e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
			for i, op := range req.Ops {
				if op.Kind == sdk.OpCreate {
					req.Ops[i].ID = "srv-" + op.ID
				}
			}
			return next.Upload(ctx, req)
		}
		child := create("contact", "tmp-c", map[string]any{"name": "Child", "owner": ref("user", "u1"), "account": ref("account", "tmp-a")})
		parent := create("account", "tmp-a", map[string]any{"name": "Parent", "owner": ref("user", "u1")})
		// The child is uploaded first; it still goes after its parent.
		e.acceptOK(1, child, parent)
		e.push()
		calls := e.client.calls()
		require.Len(t, calls, 2)
		assert.Equal(t, "account", calls[0].Ops[0].Entity)
		assert.Equal(t, "contact", calls[1].Ops[0].Entity)
		assert.Equal(t, ref("account", "srv-tmp-a"), calls[1].Ops[0].Fields["account"])
		// The hub passes a mutation's stored JSON on as it is, and re-encodes
		// only what it rewrote; the records come back as JSON.
		e.client.mu.Lock()
		raw := slices.Clone(e.client.raw)
		e.client.mu.Unlock()
		for _, r := range raw {
			assert.True(t, r.RawResults)
			assert.Nil(t, r.Ops[0].Fields)
		}
		assert.Equal(t, string(e.mutation(1, parent.MutationID).Fields), string(raw[0].Ops[0].Raw))
		assert.Contains(t, string(raw[1].Ops[0].Raw), `"srv-tmp-a"`)
		assert.Equal(t, store.MutationApplied, e.status(1, child.MutationID))
		f, ok := e.backend("contact", "srv-tmp-c")
		require.True(t, ok)
		assert.Equal(t, map[string]any{"entity": "account", "id": "srv-tmp-a"}, f["account"])
		applied, _, err := e.p.Applied(ctxT(t), e.source, 1, 0, 1<<40, 100)
		require.NoError(t, err)
		assert.ElementsMatch(t, []Applied{{MutationID: child.MutationID, ID: "srv-tmp-c"}, {MutationID: parent.MutationID, ID: "srv-tmp-a"}}, applied)

		// A later update by the device's temporary id reaches the back
		// end's record.
		u := update("contact", "tmp-c", "", map[string]any{"email": "c@example.com"})
		e.acceptOK(1, u)
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, u.MutationID))
		f, _ = e.backend("contact", "srv-tmp-c")
		assert.Equal(t, "c@example.com", f["email"])
	})
}

func TestPushBlockedChildren(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull()
		e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
			var resp sdk.UploadResponse
			var pass []sdk.Op
			for _, op := range req.Ops {
				if op.ID == "bad-a" {
					resp.Results = append(resp.Results, sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusRejected, Message: "no parking here"})
					continue
				}
				pass = append(pass, op)
			}
			if len(pass) > 0 {
				r, err := next.Upload(ctx, sdk.UploadRequest{Ops: pass})
				if err != nil {
					return r, err
				}
				resp.Results = append(resp.Results, r.Results...)
			}
			return resp, nil
		}
		parent := create("account", "bad-a", map[string]any{"name": "Bad", "owner": ref("user", "u1")})
		child := create("contact", "kid", map[string]any{"name": "Kid", "owner": ref("user", "u1"), "account": ref("account", "bad-a")})
		other := create("account", "fine-a", map[string]any{"name": "Fine", "owner": ref("user", "u1")})
		e.acceptOK(1, parent, child, other)
		e.push()
		assert.Equal(t, store.MutationRejected, e.status(1, parent.MutationID))
		assert.Equal(t, "no parking here", e.mutation(1, parent.MutationID).Reason)
		assert.Equal(t, store.MutationBlocked, e.status(1, child.MutationID))
		assert.Contains(t, e.mutation(1, child.MutationID).Reason, parent.MutationID)
		assert.Equal(t, store.MutationApplied, e.status(1, other.MutationID), "a failure blocks only what depends on it")

		errs, err := e.p.SyncErrors(ctxT(t), e.caller(1).Caller)
		require.NoError(t, err)
		require.Len(t, errs, 2)
		// The device keeps its parent: once the back end takes it, the
		// child goes too.
		e.client.upload = nil
		require.NoError(t, e.p.Resolve(ctxT(t), ResolveRequest{Caller: e.caller(1).Caller, ID: errs[0].ID, Resolution: ResolveKeepMine}))
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, parent.MutationID))
		assert.Equal(t, store.MutationApplied, e.status(1, child.MutationID))
	})
}

func TestPushTwoPassLookups(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull()
		c := create("contact", "c-1", map[string]any{"name": "C", "owner": ref("user", "u1"), "account": ref("account", "acc-later")})
		e.acceptOK(1, c)
		e.push()
		// First pass without the lookup: the contact exists.
		f, ok := e.backend("contact", "c-1")
		require.True(t, ok)
		assert.Nil(t, f["account"])
		assert.Equal(t, store.MutationInflight, e.status(1, c.MutationID))
		// The target appears; the second pass sets the lookup.
		e.conn.Put("account", map[string]any{"id": "acc-later", "name": "Later", "owner": ref("user", "u1")})
		e.clock.add(time.Hour)
		e.push()
		f, _ = e.backend("contact", "c-1")
		assert.Equal(t, map[string]any{"entity": "account", "id": "acc-later"}, f["account"])
		assert.Equal(t, store.MutationApplied, e.status(1, c.MutationID))
		mf, _, _ := e.record("contact", "c-1")
		assert.Equal(t, map[string]any{"entity": "account", "id": "acc-later"}, mf["account"])
	})
}

func TestPushRetriesAndDeadLetters(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull()
		c := create("account", "r-1", map[string]any{"name": "R", "owner": ref("user", "u1")})
		e.acceptOK(1, c)
		e.conn.SetFault(memconn.Fault{Call: "upload", Kind: memconn.FaultThrottle, Times: 1, RetryAfterMS: 3_600_000})
		e.push()
		ops := e.ops()
		require.Len(t, ops, 1)
		assert.Equal(t, 1, ops[0].Attempts)
		assert.False(t, ops[0].NextAttemptAt.Before(e.clock.now().Add(time.Hour)), "Retry-After is honoured")
		e.push()
		assert.Len(t, e.client.calls(), 1, "not due yet")
		e.clock.add(time.Hour)
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, c.MutationID))

		// A back end that keeps failing: dead-lettered after MaxAttempts.
		d := create("account", "r-2", map[string]any{"name": "R2", "owner": ref("user", "u1")})
		e.acceptOK(1, d)
		e.conn.SetFault(memconn.Fault{Call: "upload", Kind: memconn.FaultAfterApply})
		for range e.opts.MaxAttempts {
			e.push()
			e.clock.add(time.Hour)
		}
		assert.Equal(t, store.MutationDead, e.status(1, d.MutationID))
		dead, err := e.p.DeadLetters(ctxT(t), e.source, 0)
		require.NoError(t, err)
		require.Len(t, dead, 1)
		e.conn.SetFault()
		require.NoError(t, e.p.RetryDeadLetter(ctxT(t), e.source, dead[0].ID))
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, d.MutationID))
		assert.Equal(t, 12, e.conn.Count("account"), "applied once although every answer was lost")
	})
}

// cycleEnv is a back end whose accounts and contacts look each other up,
// with no parent rule to order them.
func cycleEnv(t *testing.T, s *store.Store) *env {
	str := sdk.Field{Name: "name", Type: sdk.TypeString}
	key := sdk.Field{Name: "id", Type: sdk.TypeString, ReadOnly: true}
	ents := []memconn.Entity{
		{Schema: sdk.EntitySchema{Name: "user", Key: "id", ReadOnly: true, Deletes: sdk.DeletesNone, Fields: []sdk.Field{key, str}}},
		{Schema: sdk.EntitySchema{Name: "account", Key: "id", Deletes: sdk.DeletesInline,
			Fields: []sdk.Field{key, str, {Name: "primary", Type: sdk.TypeLookup, Lookup: "contact"}}}},
		{Schema: sdk.EntitySchema{Name: "contact", Key: "id", Deletes: sdk.DeletesInline,
			Fields: []sdk.Field{key, str, {Name: "account", Type: sdk.TypeLookup, Lookup: "account"}}}},
	}
	return newEnv(t, s, withConn(memconn.New(memconn.WithEntities(ents...), memconn.WithSeed(0))), withConfig(func(src *config.Source) {
		for i := range src.Entities {
			src.Entities[i].Partition = config.PartitionRule{All: true, Raw: "*"}
			src.Entities[i].Parents = nil
		}
	}))
}

func TestPushLookupCycle(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := cycleEnv(t, s)
		a := create("account", "a-1", map[string]any{"name": "A", "primary": ref("contact", "c-1")})
		c := create("contact", "c-1", map[string]any{"name": "C", "account": ref("account", "a-1")})
		e.acceptOK(1, a, c)
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, a.MutationID))
		assert.Equal(t, store.MutationApplied, e.status(1, c.MutationID))
		fa, _ := e.backend("account", "a-1")
		fc, _ := e.backend("contact", "c-1")
		assert.Equal(t, map[string]any{"entity": "contact", "id": "c-1"}, fa["primary"])
		assert.Equal(t, map[string]any{"entity": "account", "id": "a-1"}, fc["account"])
	})
}

// TestPushLookupCycleBackendIDs: the back end keys creates itself. The
// account goes first with its lookup deferred, written as a second pass
// while the contact's create still waits, so under the device's id of the
// contact; the back end refuses it in the batch that creates the contact.
// The retry must map the lookup to the contact the same batch applied
// (before, it read the contact's status before it was written, and a
// third call was needed).
func TestPushLookupCycleBackendIDs(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := cycleEnv(t, s)
		e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
			for i, op := range req.Ops {
				if op.Kind == sdk.OpCreate {
					req.Ops[i].ID = "srv-" + op.ID
				}
			}
			return next.Upload(ctx, req)
		}
		a := create("account", "a-1", map[string]any{"name": "A", "primary": ref("contact", "c-1")})
		c := create("contact", "c-1", map[string]any{"name": "C", "account": ref("account", "a-1")})
		e.acceptOK(1, a, c)
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, c.MutationID))
		assert.Equal(t, store.MutationInflight, e.status(1, a.MutationID), "its lookup waits for a retry")
		e.clock.add(time.Hour)
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, a.MutationID))
		var lookups []any
		for _, call := range e.client.calls() {
			for _, op := range call.Ops {
				if op.Kind == sdk.OpUpdate {
					lookups = append(lookups, op.Fields["primary"])
				}
			}
		}
		assert.Equal(t, []any{ref("contact", "c-1"), ref("contact", "srv-c-1")}, lookups, "one refused pass, one applied")
		fa, _ := e.backend("account", "srv-a-1")
		fc, _ := e.backend("contact", "srv-c-1")
		assert.Equal(t, map[string]any{"entity": "contact", "id": "srv-c-1"}, fa["primary"])
		assert.Equal(t, map[string]any{"entity": "account", "id": "srv-a-1"}, fc["account"])
	})
}

func TestUploadsOverlapButDeletesWait(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, withConfig(func(src *config.Source) { src.BatchSize = 1 }))
		e.pull()
		var (
			mu              sync.Mutex
			inFlight, most  int
			deleteSawOthers bool
			order           []sdk.OpKind
			release         = make(chan struct{})
			releaseOnce     sync.Once
		)
		e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			kind := req.Ops[0].Kind
			if kind == sdk.OpDelete && inFlight > 1 {
				deleteSawOthers = true
			}
			order = append(order, kind)
			both := inFlight == UploadsInFlight
			mu.Unlock()
			if both {
				releaseOnce.Do(func() { close(release) })
			}
			if kind != sdk.OpDelete {
				// The first call waits until a second is in flight.
				select {
				case <-release:
				case <-time.After(5 * time.Second):
				}
			}
			defer func() {
				mu.Lock()
				inFlight--
				mu.Unlock()
			}()
			return next.Upload(ctx, req)
		}
		var ms []Mutation
		for i := range 4 {
			ms = append(ms, create("account", fmt.Sprintf("ovl-%d", i), map[string]any{"name": "Overlap", "owner": ref("user", "u1")}))
		}
		for i := 1; i <= 10 && len(ms) < 6; i++ {
			f, v, ok := e.record("account", fmt.Sprintf("acc-%04d", i))
			if ok && fmt.Sprint(f["owner"]) == fmt.Sprint(ref("user", "u1")) {
				ms = append(ms, del("account", fmt.Sprintf("acc-%04d", i), v))
			}
		}
		require.Len(t, ms, 6, "two of u1's accounts to delete")
		e.acceptOK(1, ms...)
		res := e.push()
		assert.Equal(t, 6, res.Ops)
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, UploadsInFlight, most, "Upload calls overlap")
		assert.False(t, deleteSawOthers, "a delete goes with no other call in flight")
		assert.Equal(t, []sdk.OpKind{sdk.OpCreate, sdk.OpCreate, sdk.OpCreate, sdk.OpCreate, sdk.OpDelete, sdk.OpDelete}, order)
		e.assertApplied(t, ms...)
	})
}

// TestAStopRecordsTheCallsAlreadyMade: a stop requested while batches are
// on their way sends no more, and records every answer already made, so
// nothing applied on the back end is sent again.
func TestAStopRecordsTheCallsAlreadyMade(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, withConfig(func(src *config.Source) { src.BatchSize = 1 }))
		e.pull()
		var ms []Mutation
		for i := range 2 * UploadsInFlight {
			ms = append(ms, create("account", fmt.Sprintf("stop-%d", i), map[string]any{"name": "Stop", "owner": ref("user", "u1")}))
		}
		e.acceptOK(1, ms...)
		var calls atomic.Int32
		e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
			if calls.Add(1) == 2 {
				// The stop is requested before this call answers (no queue
				// runs here, so Stop returns at once). A goroutine once made
				// the stop, and the calls after this one raced it.
				assert.NoError(t, e.p.Stop(context.Background()))
			}
			return next.Upload(ctx, req)
		}
		_, err := e.p.PushSource(context.Background(), e.source)
		require.ErrorIs(t, err, ErrStopping)
		made := len(e.client.calls())
		// The calls in flight when the stop came (call 2 and the others
		// that had a slot), and at most one more that took call 1's slot
		// before the stop; a batch that waits for a slot when the stop
		// comes is not sent.
		require.LessOrEqual(t, made, UploadsInFlight+1, "no call after the stop but those in flight")
		applied := 0
		for _, m := range ms {
			if e.status(1, m.MutationID) == store.MutationApplied {
				applied++
			}
		}
		assert.Equal(t, made, applied, "every call made was recorded")
		assert.Equal(t, 10+made, e.conn.Count("account"), "the back end got each call's create once")
	})
}
