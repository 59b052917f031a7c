package store_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm/schema"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// TestPlainMutationReads: the push stage's plain reader of push_mutations
// knows every column of the model and of its body, and reads each into its
// field as gorm and the body reads do, NULLs and times included.
func TestPlainMutationReads(t *testing.T) {
	sch, err := schema.Parse(&store.PushMutation{}, &sync.Map{}, schema.NamingStrategy{})
	require.NoError(t, err)
	body, err := schema.Parse(&store.PushMutationBody{}, &sync.Map{}, schema.NamingStrategy{})
	require.NoError(t, err)
	var cols []string
	for _, f := range append(sch.Fields, body.Fields...) {
		if f.DBName != "" && f.DBName != "push_mutation_id" {
			cols = append(cols, f.DBName)
		}
	}
	assert.ElementsMatch(t, cols, store.MutationColumns, "a column added to PushMutation or its body must be added to mutationColumns")

	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		at := time.Date(2026, 12, 6, 10, 11, 12, 0, time.UTC)
		full := store.PushMutation{Source: "crm", DeviceID: 7, UserID: 3, MutationID: "m1", Entity: "account", Op: "update",
			RecordID: "r-1", BaseVersion: "v1", Fields: []byte(`{"name":"A"}`), BaseFields: []byte(`{"name":"B"}`),
			ClientTime: &at, GroupID: "g", Hash: "h", Status: store.MutationPending}
		bare := store.PushMutation{Source: "crm", DeviceID: 7, UserID: 3, MutationID: "m2", Entity: "account", Op: "create",
			RecordID: "r-2", Fields: []byte(`{}`), Hash: "h2", Status: store.MutationPending}
		_, err := s.AcceptMutations(ctx, []store.PushMutation{full, bare}, func(context.Context, *sql.Tx) error { return nil })
		require.NoError(t, err)
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			rows, err := s.MutationsWithStatus(ctx, "crm", []string{store.MutationPending}, 10)
			require.NoError(t, err)
			require.Len(t, rows, 2)
			return tx.UpdateMutations([]int64{rows[0].ID}, map[string]any{"status": store.MutationConflict, "parked": true,
				"force": true, "reason": "r", "server_record": []byte(`{"id":"r-1"}`), "conflict_fields": []byte(`["name"]`),
				"backend_id": "b-1", "result_version": "v2", "op_id": 9, "applied_seq": 5, "resolved_at": at})
		}))
		// The oracle: gorm reads the row, and the content is what was written.
		var want []store.PushMutation
		require.NoError(t, s.DB().Where("source = ?", "crm").Order("id").Find(&want).Error)
		require.Len(t, want, 2)
		want[0].Fields, want[0].BaseFields = full.Fields, full.BaseFields
		want[0].ServerRecord, want[0].ConflictFields = []byte(`{"id":"r-1"}`), []byte(`["name"]`)
		want[1].Fields = bare.Fields
		listed, err := s.MutationsWithStatus(ctx, "crm", []string{store.MutationConflict, store.MutationPending}, 10)
		require.NoError(t, err)
		require.Len(t, listed, 2)
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			got, err := tx.ScanAllMutations("crm")
			require.NoError(t, err)
			require.Len(t, got, 2)
			// Times compare in UTC: the databases give them back in
			// their own zones.
			utc := func(m *store.PushMutation) {
				m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
				for _, tm := range []**time.Time{&m.ClientTime, &m.ResolvedAt} {
					if *tm != nil {
						u := (*tm).UTC()
						*tm = &u
					}
				}
			}
			for i := range want {
				utc(&want[i])
				utc(&got[i])
				utc(&listed[i])
				assert.Equal(t, want[i], got[i])
				assert.Equal(t, want[i], listed[i], "MutationsWithStatus")
			}
			assert.True(t, got[0].Parked && got[0].Force)
			assert.Nil(t, got[1].BaseFields)
			assert.Nil(t, got[1].ClientTime)
			return nil
		}))
	})
}

// TestSharedOpFields: an op that carries its mutation's fields unchanged
// is stored without them, and every read of the op gives them back.
func TestSharedOpFields(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		m := store.PushMutation{Source: "crm", DeviceID: 1, UserID: 1, MutationID: "m1", Entity: "account", Op: "create",
			RecordID: "r-1", Fields: []byte(`{"name":"A"}`), Hash: "h", Status: store.MutationPending}
		_, err := s.AcceptMutations(ctx, []store.PushMutation{m}, func(context.Context, *sql.Tx) error { return nil })
		require.NoError(t, err)
		var shared, own, mut int64
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			open, _, err := tx.WaitingMutations("crm", false, 0)
			require.NoError(t, err)
			ops := []store.PushOp{
				{Source: "crm", Key: "k1", Entity: "account", Kind: "create", RecordID: "r-1", Fields: open[0].Fields, SharedFields: true},
				{Source: "crm", Key: "k2", Entity: "account", Kind: "update", RecordID: "r-2", Fields: []byte(`{"name":"B"}`)},
			}
			require.NoError(t, tx.InsertOps(ops))
			assert.JSONEq(t, `{"name":"A"}`, string(ops[0].Fields), "the op in memory keeps its fields")
			shared, own, mut = ops[0].ID, ops[1].ID, open[0].ID
			return tx.UpdateMutations([]int64{open[0].ID}, map[string]any{"status": store.MutationInflight, "op_id": shared})
		}))
		var stored []byte
		require.NoError(t, s.DB().Table("push_ops").Where("id = ?", shared).Select("fields").Row().Scan(&stored))
		assert.Empty(t, stored, "the row does not copy the mutation's fields")
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			ops, err := tx.Ops("crm", nil)
			require.NoError(t, err)
			require.Len(t, ops, 2)
			assert.JSONEq(t, `{"name":"A"}`, string(ops[0].Fields))
			assert.True(t, ops[0].SharedFields)
			assert.JSONEq(t, `{"name":"B"}`, string(ops[1].Fields))
			assert.False(t, ops[1].SharedFields)
			op, ok, err := tx.Op(shared)
			require.NoError(t, err)
			require.True(t, ok)
			assert.JSONEq(t, `{"name":"A"}`, string(op.Fields))
			// A shared op whose mutation no longer points to it is an error,
			// not an op without fields.
			require.NoError(t, tx.UpdateMutations([]int64{mut}, map[string]any{"op_id": 0}))
			_, _, err = tx.Op(shared)
			assert.ErrorContains(t, err, "no mutation points to it")
			_, _, err = tx.Op(own)
			assert.NoError(t, err)
			return nil
		}))
	})
}
