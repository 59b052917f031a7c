package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

func TestRecordHistory(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		_, err := s.EnsureEntityState(ctx, "crm", "account")
		require.NoError(t, err)
		_, err = s.EnsureEntityState(ctx, "crm", "contact")
		require.NoError(t, err)
		s.KeepHistory("crm", "account")
		put := func(entity string, recs ...store.MirrorRecord) {
			_, err := s.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: entity, Put: recs})
			require.NoError(t, err)
		}
		put("account", rec("a1", "1", "account/owner=u1"))
		put("account", rec("a1", "2", "account/owner=u1"))
		put("account", rec("a1", "3", "account/owner=u1"))
		put("contact", rec("c1", "1", "contact/owner=u1"))
		put("contact", rec("c1", "2", "contact/owner=u1"))

		for _, v := range []string{"1", "2", "3"} {
			f, ok, err := s.RecordAt(ctx, "crm", "account", "a1", v)
			require.NoError(t, err)
			require.True(t, ok, "version %s", v)
			assert.JSONEq(t, `{"name":"a1@`+v+`"}`, string(f))
		}
		_, ok, err := s.RecordAt(ctx, "crm", "contact", "c1", "1")
		require.NoError(t, err)
		assert.False(t, ok, "history is kept only for the entities that ask for it")

		n, err := s.PruneRecordVersions(ctx, time.Now().Add(time.Hour))
		require.NoError(t, err)
		assert.EqualValues(t, 2, n)
		_, ok, err = s.RecordAt(ctx, "crm", "account", "a1", "1")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

func TestAcceptMutations(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		row := func(mid, hash string) store.PushMutation {
			return store.PushMutation{Source: "crm", DeviceID: 1, UserID: 1, MutationID: mid, Entity: "account", Op: "create",
				RecordID: "r-" + mid, Fields: []byte(`{}`), Hash: hash, Status: store.MutationPending}
		}
		enqueued := 0
		enqueue := func(context.Context, *sql.Tx) error { enqueued++; return nil }
		out, err := s.AcceptMutations(ctx, []store.PushMutation{row("m1", "h1"), row("m2", "h2")}, enqueue)
		require.NoError(t, err)
		assert.Equal(t, []store.AcceptOutcome{{Inserted: true}, {Inserted: true}}, out)
		assert.Equal(t, 1, enqueued)

		out, err = s.AcceptMutations(ctx, []store.PushMutation{row("m1", "h1"), row("m2", "other")}, enqueue)
		require.NoError(t, err)
		assert.Equal(t, []store.AcceptOutcome{{StoredHash: "h1"}, {StoredHash: "h2"}}, out)
		assert.Equal(t, 1, enqueued, "nothing new: no job")

		// Stored and new mutations mixed, one of them twice: each row gets
		// the id it is stored under.
		rows := []store.PushMutation{row("m4", "h4"), row("m1", "h1"), row("m5", "h5"), row("m4", "h4")}
		out, err = s.AcceptMutations(ctx, rows, enqueue)
		require.NoError(t, err)
		assert.Equal(t, []store.AcceptOutcome{{Inserted: true}, {StoredHash: "h1"}, {Inserted: true}, {StoredHash: "h4"}}, out)
		assert.Equal(t, 2, enqueued)
		got, err := s.DeviceMutations(ctx, 1, []string{"m1", "m4", "m5"})
		require.NoError(t, err)
		for _, r := range rows {
			assert.Equal(t, got[r.MutationID].ID, r.ID, r.MutationID)
			assert.NotZero(t, r.ID, r.MutationID)
		}

		// More rows than one INSERT holds, the second part repeating a
		// mutation of the first; every column is stored as given.
		ct := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		rows = nil
		for i := range 450 {
			r := row(fmt.Sprintf("big-%d", i), fmt.Sprintf("hb%d", i))
			r.ClientTime, r.GroupID, r.Force, r.BaseVersion, r.Fields = &ct, "g1", true, "v7", []byte(`{"name":"B"}`)
			rows = append(rows, r)
		}
		rows[420] = row("big-3", "hb3")
		out, err = s.AcceptMutations(ctx, rows, enqueue)
		require.NoError(t, err)
		for i, o := range out {
			assert.Equal(t, i != 420, o.Inserted, i)
		}
		assert.Equal(t, "hb3", out[420].StoredHash)
		got, err = s.DeviceMutations(ctx, 1, []string{"big-3", "big-449"})
		require.NoError(t, err)
		assert.Equal(t, rows[3].ID, rows[420].ID)
		last := got["big-449"]
		assert.Equal(t, rows[449].ID, last.ID)
		assert.True(t, last.ClientTime != nil && last.ClientTime.Equal(ct), "client_time %v", last.ClientTime)
		assert.Equal(t, []any{"g1", true, "v7", "hb449", "create", "r-big-449", store.MutationPending},
			[]any{last.GroupID, last.Force, last.BaseVersion, last.Hash, last.Op, last.RecordID, last.Status})
		assert.JSONEq(t, `{"name":"B"}`, string(last.Fields))
		assert.False(t, last.CreatedAt.IsZero())

		// A failing enqueue stores nothing.
		_, err = s.AcceptMutations(ctx, []store.PushMutation{row("m3", "h3")}, func(context.Context, *sql.Tx) error {
			return assert.AnError
		})
		require.Error(t, err)
		got, err = s.DeviceMutations(ctx, 1, []string{"m1", "m2", "m3"})
		require.NoError(t, err)
		assert.Len(t, got, 2)
	})
}

// TestPushReadsLeaveOutWhatTheyDoNotUse: planning reads a mutation without
// its base snapshot, recording without its fields, a create lookup without
// either, and neither reads when the mutation last changed or resolved;
// everything else comes back.
func TestPushReadsLeaveOutWhatTheyDoNotUse(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		m := store.PushMutation{Source: "crm", DeviceID: 1, UserID: 1, MutationID: "m1", Entity: "account", Op: "create",
			RecordID: "r-1", Fields: []byte(`{"name":"A"}`), BaseFields: []byte(`{"name":"B"}`), Hash: "h", Status: store.MutationPending}
		_, err := s.AcceptMutations(ctx, []store.PushMutation{m}, func(context.Context, *sql.Tx) error { return nil })
		require.NoError(t, err)
		var opID int64
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			open, _, err := tx.WaitingMutations("crm", false, 0)
			require.NoError(t, err)
			require.Len(t, open, 1)
			assert.JSONEq(t, `{"name":"A"}`, string(open[0].Fields))
			assert.Nil(t, open[0].BaseFields)
			assert.Equal(t, "r-1", open[0].RecordID)
			assert.False(t, open[0].CreatedAt.IsZero(), "created_at is read")
			assert.True(t, open[0].UpdatedAt.IsZero(), "updated_at is left out")
			op := store.PushOp{Source: "crm", Key: "k1", Entity: "account", Kind: "create", RecordID: "r-1"}
			require.NoError(t, tx.InsertOp(&op))
			opID = op.ID
			return tx.UpdateMutations([]int64{open[0].ID}, map[string]any{"status": store.MutationInflight, "op_id": op.ID})
		}))
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			byOp, err := tx.MutationsOfOps([]int64{opID})
			require.NoError(t, err)
			require.Len(t, byOp[opID], 1)
			assert.Nil(t, byOp[opID][0].Fields)
			assert.JSONEq(t, `{"name":"B"}`, string(byOp[opID][0].BaseFields))
			assert.Equal(t, "m1", byOp[opID][0].MutationID)
			assert.False(t, byOp[opID][0].CreatedAt.IsZero(), "created_at is read")
			assert.True(t, byOp[opID][0].UpdatedAt.IsZero(), "updated_at is left out")
			return nil
		}))
		creates, err := s.DeviceCreates(ctx, "crm", 1, "account", []string{"r-1"})
		require.NoError(t, err)
		assert.Nil(t, creates["r-1"].Fields)
		assert.Equal(t, store.MutationInflight, creates["r-1"].Status)
	})
}

// TestAcceptMutationsConcurrently: two uploads of the same mutations at
// once (a device retrying while its first request is still in) both
// succeed, and each mutation is inserted by exactly one of them.
func TestAcceptMutationsConcurrently(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		for round := range 10 {
			rows := func() []store.PushMutation {
				var out []store.PushMutation
				for i := range 20 {
					mid := fmt.Sprintf("r%d-m%d", round, i)
					out = append(out, store.PushMutation{Source: "crm", DeviceID: 7, UserID: 1, MutationID: mid, Entity: "account",
						Op: "create", RecordID: "r-" + mid, Fields: []byte(`{}`), Hash: mid, Status: store.MutationPending})
				}
				return out
			}
			var wg sync.WaitGroup
			outs := make([][]store.AcceptOutcome, 2)
			errs := make([]error, 2)
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					outs[w], errs[w] = s.AcceptMutations(ctx, rows(), nil)
				}()
			}
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
			for i := range 20 {
				a, b := outs[0][i], outs[1][i]
				assert.True(t, a.Inserted != b.Inserted, "round %d mutation %d: inserted once (%+v, %+v)", round, i, a, b)
			}
		}
	})
}

// TestUpdateMutationsEach: each mutation gets the common columns and its
// own values (integers and text), and the others are left alone.
func TestUpdateMutationsEach(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		ids := acceptCreates(t, s, 3)
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			return tx.UpdateMutationsEach(ids[:2], map[string]any{"status": store.MutationApplied, "applied_seq": int64(9)},
				map[string]map[int64]any{
					"op_id":      {ids[0]: int64(70), ids[1]: int64(71)},
					"backend_id": {ids[0]: "b-0", ids[1]: "it's b-1"},
				})
		}))
		var got []store.PushMutation
		require.NoError(t, s.DB().Order("id").Find(&got).Error)
		require.Len(t, got, 3)
		for i, want := range []struct {
			status, backend string
			op, seq         int64
		}{{store.MutationApplied, "b-0", 70, 9}, {store.MutationApplied, "it's b-1", 71, 9}, {store.MutationPending, "", 0, 0}} {
			assert.Equal(t, want.status, got[i].Status, "mutation %d", i)
			assert.Equal(t, want.backend, got[i].BackendID, "mutation %d", i)
			assert.Equal(t, want.op, got[i].OpID, "mutation %d", i)
			assert.Equal(t, want.seq, got[i].AppliedSeq, "mutation %d", i)
		}
		assert.False(t, got[0].UpdatedAt.IsZero(), "updated_at is set")
	})
}

// acceptCreates stores n pending creates of device 1 in source crm and
// returns their ids, oldest first.
func acceptCreates(t *testing.T, s *store.Store, n int) []int64 {
	t.Helper()
	var ms []store.PushMutation
	for i := range n {
		ms = append(ms, store.PushMutation{Source: "crm", DeviceID: 1, UserID: 1, MutationID: fmt.Sprint("m", i),
			Entity: "account", Op: "create", RecordID: fmt.Sprint("r-", i), Fields: []byte(`{}`), Status: store.MutationPending})
	}
	_, err := s.AcceptMutations(ctxT(t), ms, func(context.Context, *sql.Tx) error { return nil })
	require.NoError(t, err)
	var ids []int64
	require.NoError(t, s.DB().Table("push_mutations").Order("id").Pluck("id", &ids).Error)
	require.Len(t, ids, n)
	return ids
}

// TestWaitingMutationsLimit: a planner may read the first waiting
// mutations only; it then gets the parked conflicts older than the last of
// them, never a mutation in flight or resolved, and learns that more wait.
func TestWaitingMutationsLimit(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		// Statuses in id order: p pending, b blocked, i in flight, c parked
		// conflict, a applied.
		statuses := []string{"p", "i", "c", "b", "a", "p", "c", "p", "p"}
		ids := acceptCreates(t, s, len(statuses))
		set := map[string]map[string]any{"p": {"status": store.MutationPending}, "b": {"status": store.MutationBlocked},
			"i": {"status": store.MutationInflight}, "c": {"status": store.MutationConflict, "parked": true},
			"a": {"status": store.MutationApplied}}
		for i, st := range statuses {
			require.NoError(t, s.DB().Table("push_mutations").Where("id = ?", ids[i]).Updates(set[st]).Error)
		}
		for _, tc := range []struct {
			name  string
			lock  bool
			limit int
			want  []int // indexes into statuses
			more  bool
		}{
			{"all", false, 0, []int{0, 2, 3, 5, 6, 7, 8}, false},
			{"all locked", true, 0, []int{0, 2, 3, 5, 6, 7, 8}, false},
			{"first three", false, 3, []int{0, 2, 3, 5}, true},
			{"first three locked", true, 3, []int{0, 2, 3, 5}, true},
			{"first four", true, 4, []int{0, 2, 3, 5, 6, 7}, true},
			{"exactly all", false, 5, []int{0, 2, 3, 5, 6, 7, 8}, false},
			{"more than all", true, 50, []int{0, 2, 3, 5, 6, 7, 8}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
					rows, more, err := tx.WaitingMutations("crm", tc.lock, tc.limit)
					require.NoError(t, err)
					var got []int
					for _, m := range rows {
						got = append(got, slices.Index(ids, m.ID))
					}
					assert.Equal(t, tc.want, got)
					assert.Equal(t, tc.more, more)
					return nil
				}))
			})
		}
	})
}

// TestInsertOpsKeepEveryColumn: ops written by InsertOps (a VALUES list
// on SQLite, one array per column on PostgreSQL) read back as they were,
// NULL columns included, each with its own id.
func TestInsertOpsKeepEveryColumn(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		at := time.Date(2026, 12, 6, 10, 30, 0, 123456000, time.UTC)
		ops := []store.PushOp{
			{Source: "crm", Key: "k1", Entity: "account", Kind: "update", RecordID: "r1", BaseVersion: "v1",
				Fields: []byte(`{"name":"A"}`), Deferred: []byte(`{"parent":"p"}`), SecondPass: true, GroupKey: "g",
				Attempts: 2, Resends: 1, Lost: []byte(`["name"]`), Dead: true, SentSeq: 42, NextAttemptAt: at,
				LastError: "it's late", CreatedAt: at},
			{Source: "crm", Key: "k2", Entity: "contact", Kind: "create", RecordID: "r2", Fields: []byte(`{"n":1}`)},
		}
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error { return tx.InsertOps(ops) }))
		require.NotZero(t, ops[0].ID)
		require.NotEqual(t, ops[0].ID, ops[1].ID)
		var got []store.PushOp
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			var err error
			got, err = tx.Ops("crm", nil)
			return err
		}))
		require.Len(t, got, 2)
		for i := range got {
			// PostgreSQL keeps microseconds.
			assert.WithinDuration(t, ops[i].NextAttemptAt, got[i].NextAttemptAt, time.Microsecond)
			assert.WithinDuration(t, ops[i].CreatedAt, got[i].CreatedAt, time.Microsecond)
			got[i].NextAttemptAt, got[i].CreatedAt = ops[i].NextAttemptAt, ops[i].CreatedAt
			assert.Equal(t, ops[i], got[i])
		}
		assert.Nil(t, got[1].Deferred, "a NULL stays NULL")
		assert.Nil(t, got[1].Lost)
	})
}
