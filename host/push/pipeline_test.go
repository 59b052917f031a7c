package push

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

// TestTheFirstCallsGoBeforeEverythingIsPlanned: a run plans the first
// calls' worth of waiting mutations and sends them while it plans the
// rest, instead of planning every mutation before the first call; each
// mutation still goes once.
func TestTheFirstCallsGoBeforeEverythingIsPlanned(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, withConfig(func(src *config.Source) { src.BatchSize = 1 }))
		e.pull()
		var ms []Mutation
		const n = 40
		for i := range n {
			ms = append(ms, create("account", fmt.Sprintf("early-%d", i), map[string]any{"name": "Early", "owner": ref("user", "u1")}))
		}
		e.acceptOK(1, ms...)
		// No call answers before the first has counted what still waits:
		// the run can then have planned the first calls (UploadsInFlight),
		// and what the sender's queue holds, but not all 40.
		var once sync.Once
		var waiting int64
		release := make(chan struct{})
		e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
			once.Do(func() {
				counts, err := s.CountMutations(ctx, e.source)
				assert.NoError(t, err)
				waiting = counts[store.MutationPending]
				close(release)
			})
			<-release
			return next.Upload(ctx, req)
		}
		res := e.push()
		assert.Equal(t, n, res.Ops)
		assert.Equal(t, n, res.Calls)
		assert.Greater(t, res.Rounds, 2, "several plans")
		assert.Positive(t, waiting, "the first call went before every mutation was planned")
		e.assertApplied(t, ms...)
		assert.Equal(t, 10+n, e.conn.Count("account"), "each create reached the back end once")
		assert.Empty(t, e.ops())
	})
}

// TestDeletesWaitForAPlanOfEverything: a plan that sees only the first
// waiting mutations leaves their deletes waiting, so a parent the device
// deleted before its child is still deleted after it.
func TestDeletesWaitForAPlanOfEverything(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, withConfig(func(src *config.Source) { src.BatchSize = 1 }))
		e.pull()
		owner := ref("user", "u1")
		var acc, con string
		var accV, conV string
		for i := 1; i <= 10 && acc == ""; i++ {
			a, av, okA := e.record("account", fmt.Sprintf("acc-%04d", i))
			c, cv, okC := e.record("contact", fmt.Sprintf("con-%04d", i))
			if okA && okC && fmt.Sprint(a["owner"]) == fmt.Sprint(owner) && fmt.Sprint(c["owner"]) == fmt.Sprint(owner) {
				acc, con, accV, conV = fmt.Sprintf("acc-%04d", i), fmt.Sprintf("con-%04d", i), av, cv
			}
		}
		require.NotEmpty(t, acc, "an account of u1 with a contact of u1")
		// The first plan (UploadsInFlight calls of one) takes the first
		// create, the parent's delete and other creates, not the child's
		// delete.
		ms := []Mutation{
			create("account", "first", map[string]any{"name": "First", "owner": owner}),
			del("account", acc, accV),
		}
		for i := range UploadsInFlight - 2 {
			ms = append(ms, create("account", fmt.Sprintf("between-%d", i), map[string]any{"name": "Between", "owner": owner}))
		}
		ms = append(ms, del("contact", con, conV),
			create("account", "later", map[string]any{"name": "Later", "owner": owner}))
		e.acceptOK(1, ms...)
		e.push()
		var deleted []string
		for _, c := range e.client.calls() {
			for _, op := range c.Ops {
				if op.Kind == sdk.OpDelete {
					deleted = append(deleted, op.Entity)
				}
			}
		}
		assert.Equal(t, []string{"contact", "account"}, deleted, "the child is deleted first")
		e.assertApplied(t, ms...)
	})
}

// TestAGroupIsNeverSplitBetweenPlans: a group whose first mutations fall
// in a plan's share of the waiting mutations and its last outside it waits
// for a plan that sees every waiting mutation, and goes in one atomic call.
func TestAGroupIsNeverSplitBetweenPlans(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, withConfig(func(src *config.Source) { src.BatchSize = 2 }))
		e.pull()
		owner := ref("user", "u1")
		var ms []Mutation
		// The first plan (UploadsInFlight calls of two) takes the creates
		// before the group and the group's first mutation, which depends
		// on nothing, but not its second.
		for i := range 2*UploadsInFlight - 1 {
			ms = append(ms, create("account", fmt.Sprintf("before-%d", i), map[string]any{"name": "Before", "owner": owner}))
		}
		a := create("account", "grp-a", map[string]any{"name": "Order", "owner": owner})
		c := create("contact", "grp-c", map[string]any{"name": "Line", "owner": owner, "account": ref("account", "grp-a")})
		a.Group, c.Group = "order-1", "order-1"
		ms = append(ms, a, c)
		e.acceptOK(1, ms...)
		e.push()
		var atomic []sdk.UploadRequest
		for _, call := range e.client.calls() {
			if call.Atomic {
				atomic = append(atomic, call)
			}
			assert.False(t, !call.Atomic && slices.ContainsFunc(call.Ops, func(op sdk.Op) bool { return op.ID == "grp-a" || op.ID == "grp-c" }),
				"a group's mutation went outside its atomic call")
		}
		require.Len(t, atomic, 1)
		assert.Len(t, atomic[0].Ops, 2, "the group goes whole")
		e.assertApplied(t, ms...)
	})
}
