package client

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/client/internal/fakehub"
)

func TestCoalesce(t *testing.T) {
	a1 := map[string]any{"name": "A", "revenue": 1}
	a2 := map[string]any{"revenue": 2, "employees": 3}
	merged := map[string]any{"name": "A", "revenue": 2, "employees": 3}
	tests := []struct {
		name       string
		prev, op   string
		wantOp     string
		wantFields map[string]any
		wantKeep   bool
		wantErr    bool
	}{
		{name: "create_then_update_is_a_create_with_merged_fields", prev: OpCreate, op: OpUpdate, wantOp: OpCreate, wantFields: merged, wantKeep: true},
		{name: "update_then_update_is_an_update_with_merged_fields", prev: OpUpdate, op: OpUpdate, wantOp: OpUpdate, wantFields: merged, wantKeep: true},
		{name: "update_then_delete_is_a_delete", prev: OpUpdate, op: OpDelete, wantOp: OpDelete, wantKeep: true},
		{name: "create_then_delete_is_nothing", prev: OpCreate, op: OpDelete, wantKeep: false},
		{name: "anything_after_a_delete_is_an_error", prev: OpDelete, op: OpUpdate, wantErr: true},
		{name: "a_second_create_is_an_error", prev: OpUpdate, op: OpCreate, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := a2
			if tt.op == OpDelete {
				next = nil
			}
			op, fields, keep, err := coalesce(tt.prev, a1, tt.op, next)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantKeep, keep)
			assert.Equal(t, tt.wantOp, op)
			if tt.wantFields != nil {
				assert.Equal(t, tt.wantFields, fields)
			}
		})
	}
}

func TestChangeLog(t *testing.T) {
	type step struct {
		op     string
		fields map[string]any
	}
	tests := []struct {
		name      string
		steps     []step
		wantOps   []string
		wantField map[string]any // fields of the last entry
	}{
		{name: "create_and_updates_leave_one_create_entry",
			steps:     []step{{OpCreate, map[string]any{"name": "A"}}, {OpUpdate, map[string]any{"revenue": 5}}, {OpUpdate, map[string]any{"name": "B"}}},
			wantOps:   []string{OpCreate},
			wantField: map[string]any{"name": "B", "revenue": json.Number("5")}},
		{name: "create_then_delete_leaves_nothing",
			steps:   []step{{OpCreate, map[string]any{"name": "A"}}, {OpUpdate, map[string]any{"name": "B"}}, {OpDelete, nil}},
			wantOps: nil},
		{name: "updates_of_a_synced_record_leave_one_update_with_changed_fields_only",
			steps:     []step{{OpUpdate, map[string]any{"name": "X"}}, {OpUpdate, map[string]any{"employees": 7}}},
			wantOps:   []string{OpUpdate},
			wantField: map[string]any{"name": "X", "employees": json.Number("7")}},
		{name: "update_then_delete_of_a_synced_record_leaves_one_delete",
			steps:   []step{{OpUpdate, map[string]any{"name": "X"}}, {OpDelete, nil}},
			wantOps: []string{OpDelete}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Synced", "revenue": 1})
			e.sync()
			id := "a1"
			for _, s := range tt.steps {
				var err error
				switch s.op {
				case OpCreate:
					id, err = e.c.Create(e.ctx, "crm", "account", s.fields)
				case OpUpdate:
					err = e.c.Update(e.ctx, "crm", "account", id, s.fields)
				case OpDelete:
					err = e.c.Delete(e.ctx, "crm", "account", id)
				}
				require.NoError(t, err)
			}
			var ops []string
			chs := e.changes()
			for _, c := range chs {
				ops = append(ops, c.Op)
				assert.Equal(t, statePending, c.State)
			}
			assert.Equal(t, tt.wantOps, ops)
			if tt.wantField != nil {
				assert.Equal(t, tt.wantField, chs[len(chs)-1].Fields)
			}
			if len(chs) > 0 && chs[0].Op != OpCreate {
				assert.Equal(t, "v1", chs[0].BaseVersion, "base version is the synced version")
			}
		})
	}

	t.Run("an_edit_after_the_entry_went_out_makes_a_new_entry", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Lock()
		e.hub.ApplyMutations = false
		e.hub.Unlock()
		e.sync()
		id, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "A"})
		require.NoError(t, err)
		e.sync()
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", id, map[string]any{"name": "B"}))
		chs := e.changes()
		require.Len(t, chs, 2)
		assert.Equal(t, []string{OpCreate, OpUpdate}, []string{chs[0].Op, chs[1].Op})
		assert.Equal(t, stateSent, chs[0].State)
		assert.Equal(t, map[string]any{"name": "A"}, chs[0].Fields, "the sent entry is never changed")
		assert.Equal(t, statePending, chs[1].State)
	})

	t.Run("a_later_edit_waits_for_the_earlier_one_and_builds_on_its_version", func(t *testing.T) {
		e := newEnv(t)
		e.sync()
		e.setHub(func(h *fakehub.Hub) { h.ApplyMutations = false })
		id, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "A"})
		require.NoError(t, err)
		e.sync()
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", id, map[string]any{"name": "B"}))
		e.sync()
		assert.Len(t, e.hub.Mutations(), 1, "the update waits: its create is not applied yet")
		e.hub.ApplyPending()
		e.setHub(func(h *fakehub.Hub) { h.ApplyMutations = true })
		e.sync()
		_, ver, ok := e.hub.Record("crm", "account", id)
		require.True(t, ok)
		var update fakehub.Mutation
		for _, m := range e.hub.Mutations() {
			if m.Op == OpUpdate {
				update = m
			}
		}
		assert.Equal(t, "v1", update.BaseVersion, "rebased on the version the create produced")
		fields, _, _ := e.hub.Record("crm", "account", id)
		assert.Equal(t, "B", fields["name"])
		assert.NotEqual(t, "v1", ver)
		assert.Empty(t, e.changes())
	})

	t.Run("edits_are_refused_on_read_only_entities_and_fields", func(t *testing.T) {
		e := newEnv(t)
		e.sync()
		_, err := e.c.Create(e.ctx, "crm", "country", map[string]any{"name": "X"})
		require.ErrorIs(t, err, ErrReadOnly)
		_, err = e.c.Create(e.ctx, "crm", "account", map[string]any{"createdon": "2024-01-01T00:00:00Z"})
		require.ErrorIs(t, err, ErrInvalidField)
		_, err = e.c.Create(e.ctx, "crm", "acount", map[string]any{"name": "X"})
		require.ErrorIs(t, err, ErrUnknownEntity)
		assert.EqualError(t, err, "unknown entity 'acount'; entities: account, contact, country")
	})
}

// TestNewIDsAreTimeOrdered: the ids of creates and of mutations are version
// 7 UUIDs, each above the one before, so that the hub's indexes keyed by
// them take a batch's creates at their end (bench P5).
func TestNewIDsAreTimeOrdered(t *testing.T) {
	e := newEnv(t)
	e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Synced"})
	e.sync()
	var ids []string
	for i := range 50 {
		id, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": fmt.Sprint("A", i)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Edited"}))
	var muts []string
	for _, c := range e.changes() {
		muts = append(muts, c.MutationID)
	}
	require.Len(t, muts, 51)
	for what, list := range map[string][]string{"record ids": ids, "mutation ids": muts} {
		for i, s := range list {
			u, err := uuid.Parse(s)
			require.NoError(t, err, "%s[%d] %q", what, i, s)
			assert.Equal(t, uuid.Version(7), u.Version(), "%s[%d] %q", what, i, s)
			if i > 0 {
				assert.Less(t, list[i-1], s, "%s: %d is not above the one before", what, i)
			}
		}
	}
}
