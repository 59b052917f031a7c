package store_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

func rec(id, version, part string) store.MirrorRecord {
	f := fmt.Sprintf(`{"name":%q}`, id+"@"+version)
	return store.MirrorRecord{ID: id, Version: version, Fields: []byte(f), Hash: f, Partition: part}
}

// ops collects what Changes streams, as "seq put|remove partition id".
type op struct {
	Partition, ID string
	Removed       bool
}

func changes(t *testing.T, s *store.Store, since map[string]int64, limit int) ([]store.ChangeOp, int64, bool) {
	t.Helper()
	var out []store.ChangeOp
	last, more, err := s.Changes(context.Background(), "crm", since, limit, func(o store.ChangeOp) error {
		out = append(out, o)
		return nil
	})
	require.NoError(t, err)
	return out, last, more
}

func short(ops []store.ChangeOp) []op {
	out := make([]op, len(ops))
	for i, o := range ops {
		out[i] = op{o.Partition, o.ID, o.Removed}
	}
	return out
}

func TestApplyBatch(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		_, err := s.EnsureEntityState(ctx, "crm", "account")
		require.NoError(t, err)
		apply := func(b store.Batch) store.BatchResult {
			t.Helper()
			b.Source, b.Entity = "crm", "account"
			res, err := s.ApplyBatch(ctx, b)
			require.NoError(t, err)
			return res
		}
		all := func() map[string]int64 {
			return map[string]int64{"account/owner=u1": 0, "account/owner=u2": 0}
		}

		t.Log("a first page inserts records and gives each partition item its own seq")
		res := apply(store.Batch{Put: []store.MirrorRecord{rec("a", "1", "account/owner=u1"), rec("b", "1", "account/owner=u2"),
			rec("c", "1", "")}, Pass: 1, State: map[string]any{store.ColFullCursor: "p1"}})
		assert.Equal(t, store.BatchResult{Changed: 3, LastSeq: 2, Partitions: []string{"account/owner=u1", "account/owner=u2"}}, res)
		st, err := s.EntityState(ctx, "crm", "account")
		require.NoError(t, err)
		assert.Equal(t, "p1", st.FullCursor)
		assert.EqualValues(t, 3, st.Records)
		ops, last, more := changes(t, s, all(), 10)
		assert.Equal(t, []op{{"account/owner=u1", "a", false}, {"account/owner=u2", "b", false}}, short(ops))
		assert.EqualValues(t, 2, last)
		assert.False(t, more)
		assert.JSONEq(t, `{"name":"a@1"}`, string(ops[0].Fields))
		assert.Equal(t, "1", ops[0].Version)

		t.Log("the same versions again are no change: no seq, no item")
		res = apply(store.Batch{Put: []store.MirrorRecord{rec("a", "1", "account/owner=u1"), rec("b", "1", "account/owner=u2")}, Pass: 1})
		assert.Equal(t, store.BatchResult{Unchanged: 2}, res)
		seq, err := s.SourceSeq(ctx, "crm")
		require.NoError(t, err)
		assert.EqualValues(t, 2, seq)

		t.Log("a move gives a REMOVE in the old partition and a PUT in the new one")
		res = apply(store.Batch{Put: []store.MirrorRecord{rec("a", "2", "account/owner=u2")}, Pass: 1})
		assert.Equal(t, 1, res.Changed)
		assert.EqualValues(t, 4, res.LastSeq)
		ops, _, _ = changes(t, s, map[string]int64{"account/owner=u1": 2, "account/owner=u2": 2}, 10)
		assert.Equal(t, []op{{"account/owner=u1", "a", true}, {"account/owner=u2", "a", false}}, short(ops))
		assert.Nil(t, ops[0].Fields)

		t.Log("a full sync from since 0 skips tombstones")
		ops, _, _ = changes(t, s, all(), 10)
		assert.Equal(t, []op{{"account/owner=u2", "b", false}, {"account/owner=u2", "a", false}}, short(ops))

		t.Log("a limit stops the stream and reports more")
		ops, last, more = changes(t, s, all(), 1)
		assert.Len(t, ops, 1)
		assert.EqualValues(t, 2, last)
		assert.True(t, more)

		t.Log("removing a record tombstones it; unknown ids are ignored")
		res = apply(store.Batch{Remove: []string{"b", "nope"}, Pass: 1})
		assert.Equal(t, store.BatchResult{Removed: 1, LastSeq: 5, Partitions: []string{"account/owner=u2"}}, res)
		n, err := s.CountRecords(ctx, "crm", "account")
		require.NoError(t, err)
		assert.EqualValues(t, 2, n)

		t.Log("reconciliation removes what the pass did not see, up to the pass's start seq")
		apply(store.Batch{Put: []store.MirrorRecord{rec("late", "1", "account/owner=u1")}, Pass: 1})
		res = apply(store.Batch{Put: []store.MirrorRecord{rec("c", "1", "")}, Pass: 2, Reconcile: true, ReconcileMaxSeq: 5})
		assert.Equal(t, 1, res.Reconciled, "a is removed; late (seq 6) was written after the pass began")
		_, err = s.GetRecord(ctx, "crm", "account", "a")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetRecord(ctx, "crm", "account", "late")
		assert.NoError(t, err)
		st, err = s.EntityState(ctx, "crm", "account")
		require.NoError(t, err)
		n, err = s.CountRecords(ctx, "crm", "account")
		require.NoError(t, err)
		assert.Equal(t, n, st.Records, "the record counter matches a count")
	})
}

func TestExpireTombstones(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		_, err := s.EnsureEntityState(ctx, "crm", "account")
		require.NoError(t, err)
		_, err = s.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: "account",
			Put: []store.MirrorRecord{rec("a", "1", "account/owner=u1"), rec("b", "1", "account/owner=u1")}})
		require.NoError(t, err)
		_, err = s.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: "account", Remove: []string{"a", "b"}})
		require.NoError(t, err)
		floors, err := s.PartitionFloors(ctx, "crm", []string{"account/owner=u1", "account/owner=u9"})
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"account/owner=u1": 0, "account/owner=u9": 0}, floors)

		n, err := s.ExpireTombstones(ctx, "crm", time.Now().Add(-time.Hour))
		require.NoError(t, err)
		assert.Zero(t, n, "fresh tombstones stay")
		n, err = s.ExpireTombstones(ctx, "crm", time.Now().Add(time.Second))
		require.NoError(t, err)
		assert.EqualValues(t, 2, n)
		floors, err = s.PartitionFloors(ctx, "crm", []string{"account/owner=u1"})
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"account/owner=u1": 4}, floors)
		ops, _, _ := changes(t, s, map[string]int64{"account/owner=u1": 1}, 10)
		assert.Empty(t, ops)
	})
}

func TestAdminCursor(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		st, err := s.EntityState(ctx, "crm", "account")
		require.NoError(t, err)
		assert.Equal(t, store.EntityState{Source: "crm", Entity: "account"}, st, "an entity never pulled has a zero state")
		require.NoError(t, s.SetCursor(ctx, "crm", "account", "delta-1"))
		st, err = s.EntityState(ctx, "crm", "account")
		require.NoError(t, err)
		assert.Equal(t, "delta-1", st.Cursor)
		require.NoError(t, s.ResetCursor(ctx, "crm", "account"))
		states, err := s.EntityStates(ctx, "crm")
		require.NoError(t, err)
		require.Len(t, states, 1)
		assert.Equal(t, "", states[0].Cursor)
	})
}

// TestArrayUpsertsAreLoggedLikeOtherQueries: the PostgreSQL upserts that
// bypass gorm (one array per column) still reach the slow-query log.
func TestArrayUpsertsAreLoggedLikeOtherQueries(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := hclog.New(&hclog.LoggerOptions{Output: lockedWriter{&mu, &buf}, Level: hclog.Warn})
	s, err := store.Open(ctxT(t), store.Options{Kind: store.KindPostgres, DSN: dsn, Logger: log, SlowQuery: time.Nanosecond})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.EnsureEntityState(ctxT(t), "crm", "account")
	require.NoError(t, err)
	_, err = s.ApplyBatch(ctxT(t), store.Batch{Source: "crm", Entity: "account",
		Put: []store.MirrorRecord{{ID: "a", Version: "1", Fields: []byte(`{"name":"A"}`), Hash: "h", Partition: "account/owner=u1"}}})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	assert.Contains(t, out, "slow query")
	assert.Contains(t, out, "INSERT INTO records")
	assert.Contains(t, out, "INSERT INTO partition_items")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
