package push

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// TestCarriedMutationsMatchTheStore: the mutations a plan hands the
// recorder for ops of creates alone (runner.carried) are what the recorder
// would read from the store, and other ops' are left to the store.
func TestCarriedMutationsMatchTheStore(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull()
		_, v, ok := e.record("account", "acc-0003")
		require.True(t, ok)
		e.acceptOK(1,
			create("account", "new-1", map[string]any{"name": "One", "owner": ref("user", "u1"), "city": "Oslo"}),
			create("account", "new-2", map[string]any{"name": "Two", "owner": ref("user", "u1")}),
			update("account", "new-2", "", map[string]any{"city": "Rome"}),
			update("account", "acc-0003", v, map[string]any{"city": "Rome"}))
		src, err := e.p.source(e.source)
		require.NoError(t, err)
		r, err := e.p.newRunner(ctxT(t), src)
		require.NoError(t, err)
		p, err := r.plan(ctxT(t), 0)
		require.NoError(t, err)
		due := p.due
		require.Len(t, due, 3)
		require.NoError(t, s.PushTx(ctxT(t), func(tx *store.PushTx) error {
			for _, op := range due {
				stored, err := tx.MutationsOfOps([]int64{op.ID})
				require.NoError(t, err)
				carried, ok := r.carried[op.ID]
				if op.RecordID != "new-1" {
					// An update, and a create with its update: the
					// update's base snapshot comes from the store.
					assert.False(t, ok, "op %s's mutations are read from the store", op.RecordID)
					continue
				}
				require.True(t, ok, "op %s", op.RecordID)
				want := stored[op.ID]
				require.Len(t, carried, len(want), "op %s", op.RecordID)
				for i := range want {
					// UpdatedAt is the plan's write time; nothing reads it.
					carried[i].UpdatedAt = want[i].UpdatedAt
					assert.Equal(t, want[i], carried[i], "op %s", op.RecordID)
				}
			}
			return nil
		}))
	})
}
