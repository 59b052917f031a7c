package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// TestMutationBodiesMigration: 2026120602_mutation_bodies moves every
// mutation's content out of push_mutations and back on rollback, without
// losing a byte or a NULL, on both databases.
func TestMutationBodiesMigration(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		m := store.PushMutation{Source: "crm", DeviceID: 1, UserID: 1, MutationID: "new", Entity: "account", Op: "update",
			RecordID: "r-1", Fields: []byte(`{"name":"A"}`), BaseFields: []byte(`{"name":"B"}`), Hash: "h", Status: store.MutationPending}
		_, err := s.AcceptMutations(ctx, []store.PushMutation{m}, func(context.Context, *sql.Tx) error { return nil })
		require.NoError(t, err)
		require.NoError(t, s.PushTx(ctx, func(tx *store.PushTx) error {
			rows, err := s.MutationsWithStatus(ctx, "crm", []string{store.MutationPending}, 10)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			return tx.UpdateMutations([]int64{rows[0].ID}, map[string]any{"status": store.MutationConflict,
				"server_record": []byte(`{"id":"r-1"}`), "conflict_fields": []byte(`["name"]`)})
		}))

		// Back to the schema before: the content is in push_mutations
		// (2026120701_waiting_index came after it).
		require.NoError(t, s.RollbackLastMigration(ctx))
		require.NoError(t, s.RollbackLastMigration(ctx))
		db := s.DB()
		assert.False(t, db.Migrator().HasTable("push_mutation_bodies"))
		type old struct {
			MutationID                                       string
			Fields, BaseFields, ServerRecord, ConflictFields []byte
		}
		var got []old
		require.NoError(t, db.Raw("SELECT mutation_id, fields, base_fields, server_record, conflict_fields FROM push_mutations").
			Scan(&got).Error)
		assert.Equal(t, []old{{"new", []byte(`{"name":"A"}`), []byte(`{"name":"B"}`), []byte(`{"id":"r-1"}`), []byte(`["name"]`)}}, got)
		// A row written by a hub of that schema, NULLs included.
		now := time.Now().UTC()
		require.NoError(t, db.Exec(`INSERT INTO push_mutations (source, device_id, mutation_id, user_id, entity, op, record_id,
fields, status, created_at, updated_at) VALUES ('crm', 1, 'old', 1, 'account', 'create', 'r-2', ?, 'pending', ?, ?)`,
			[]byte(`{"name":"C"}`), now, now).Error)

		require.NoError(t, s.MigrateAgain(ctx))
		assert.False(t, db.Migrator().HasColumn(&store.PushMutation{}, "fields"))
		rows, err := s.MutationsWithStatus(ctx, "crm", []string{store.MutationConflict, store.MutationPending}, 10)
		require.NoError(t, err)
		require.Len(t, rows, 2)
		byID := map[string]store.PushMutation{rows[0].MutationID: rows[0], rows[1].MutationID: rows[1]}
		assert.Equal(t, `{"name":"A"}`, string(byID["new"].Fields))
		assert.Equal(t, `{"name":"B"}`, string(byID["new"].BaseFields))
		assert.Equal(t, `{"id":"r-1"}`, string(byID["new"].ServerRecord))
		assert.Equal(t, `["name"]`, string(byID["new"].ConflictFields))
		assert.Equal(t, `{"name":"C"}`, string(byID["old"].Fields))
		assert.Nil(t, byID["old"].BaseFields)
		assert.Nil(t, byID["old"].ServerRecord)
		assert.Nil(t, byID["old"].ConflictFields)
	})
}

// TestWaitingIndexMigration: 2026120701_waiting_index replaces the index
// of push_mutations on (source, status) by one on (source, status, id),
// and rollback puts the old one back, on both databases.
func TestWaitingIndexMigration(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		m := s.DB().Migrator()
		assert.True(t, m.HasIndex(&store.PushMutation{}, "idx_push_mutations_waiting"))
		assert.False(t, m.HasIndex(&store.PushMutation{}, "idx_push_mutations_status"))
		require.NoError(t, s.RollbackLastMigration(ctx))
		assert.False(t, m.HasIndex(&store.PushMutation{}, "idx_push_mutations_waiting"))
		assert.True(t, m.HasIndex(&store.PushMutation{}, "idx_push_mutations_status"))
		require.NoError(t, s.MigrateAgain(ctx))
		assert.True(t, m.HasIndex(&store.PushMutation{}, "idx_push_mutations_waiting"))
		assert.False(t, m.HasIndex(&store.PushMutation{}, "idx_push_mutations_status"))
	})
}
