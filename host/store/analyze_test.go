package store_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// TestMirrorStatisticsFollowAFirstPull: on PostgreSQL a mirror filled
// since the migration gets table statistics without waiting for
// autovacuum, so the planner keeps finding a page's ids by primary key.
func TestMirrorStatisticsFollowAFirstPull(t *testing.T) {
	s := storetest.Postgres(t)
	ctx := ctxT(t)
	_, err := s.EnsureEntityState(ctx, "crm", "account")
	require.NoError(t, err)
	reltuples := func() float64 { return reltuples(t, s, "records") }
	require.LessOrEqual(t, reltuples(), 0.0, "a new table has no statistics")
	for page := range 5 {
		recs := make([]store.MirrorRecord, 500)
		for i := range recs {
			id := fmt.Sprintf("a%05d", page*500+i)
			recs[i] = store.MirrorRecord{ID: id, Version: "1", Fields: []byte(`{"name":"x"}`), Hash: id, Partition: "account/*"}
		}
		_, err := s.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: "account", Put: recs})
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, reltuples(), 2000.0, "2,500 rows written: statistics refreshed")
}

// TestMutationStatisticsFollowUploads: on PostgreSQL push_mutations gets
// statistics as uploads fill it, so the planner finds an upload's mutation
// ids through the whole dedupe index instead of reading every mutation of
// the device for each upload.
func TestMutationStatisticsFollowUploads(t *testing.T) {
	s := storetest.Postgres(t)
	ctx := ctxT(t)
	reltuples := func() float64 { return reltuples(t, s, "push_mutations") }
	require.LessOrEqual(t, reltuples(), 0.0, "a new table has no statistics")
	for batch := range 25 {
		rows := make([]store.PushMutation, 100)
		for i := range rows {
			mid := fmt.Sprintf("m%05d", batch*100+i)
			rows[i] = store.PushMutation{Source: "crm", DeviceID: 1, UserID: 1, MutationID: mid, Entity: "account", Op: "create",
				RecordID: "r-" + mid, Fields: []byte(`{}`), Hash: mid, Status: store.MutationPending}
		}
		_, err := s.AcceptMutations(ctx, rows, nil)
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, reltuples(), 2000.0, "2,500 mutations accepted: statistics refreshed")
}

// reltuples is PostgreSQL's row estimate of a table of the store's schema
// (at most 0 before its first ANALYZE).
func reltuples(t *testing.T, s *store.Store, table string) float64 {
	t.Helper()
	var n float64
	require.NoError(t, s.DB().Raw(`SELECT reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = ? AND n.nspname = current_schema()`, table).Scan(&n).Error)
	return n
}
