package push

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// The situations of the policy table: what the device did / what the
// server did meanwhile.
const (
	updateUpdate = "update/update" // both changed city
	updateDelete = "update/delete" // the device changed city, the server deleted
	deleteUpdate = "delete/update" // the device deleted, the server changed city
	createCreate = "create/create" // both created id dup-1
)

// policyCase: the record is acc-0003 (owned by u1): name "Account 3",
// city "Lisbon". The device's city is "Rome", the server's "Madrid".
type policyCase struct {
	policy, tieBreak string
	owners           map[string]string
	sit              string
	// older makes the device's edit older than the server's.
	older bool
	// deviceFields overrides the device's update.
	deviceFields map[string]any
	// serverFields overrides the server's update.
	serverFields map[string]any
	// pullFirst mirrors the server's change before the device uploads.
	pullFirst bool

	status   string
	parked   bool
	exists   bool
	city     string // the back end's city afterwards ("" when gone)
	name     string // the back end's name afterwards, when checked
	resolved string // after a keep_mine resolution, the back end's city
}

func policyCases() map[string]policyCase {
	all := []string{policyServerWins, policyDeviceWins, policyDeviceWinsFull, policyLastWriteWins, policyUserDecides, policyMerge}
	out := map[string]policyCase{}
	for _, p := range all {
		c := func(sit string) policyCase { return policyCase{policy: p, tieBreak: policyServerWins, sit: sit} }
		// update/update
		uu := c(updateUpdate)
		switch p {
		case policyServerWins, policyMerge:
			uu.status, uu.exists, uu.city = store.MutationConflict, true, "Madrid"
		case policyUserDecides:
			uu.status, uu.parked, uu.exists, uu.city, uu.resolved = store.MutationConflict, true, true, "Madrid", "Rome"
		default:
			uu.status, uu.exists, uu.city = store.MutationApplied, true, "Rome"
		}
		out[p+"/"+updateUpdate] = uu
		// update/delete
		ud := c(updateDelete)
		ud.status = store.MutationNotFound
		switch p {
		case policyDeviceWinsFull:
			ud.status, ud.exists, ud.city, ud.name = store.MutationApplied, true, "Rome", "Account 3"
		case policyUserDecides:
			ud.parked, ud.resolved = true, "Rome"
		}
		out[p+"/"+updateDelete] = ud
		// The same when the hub mirrored the delete before the device
		// uploaded: the edit still meets the policy, not a rejection.
		udm := ud
		udm.pullFirst = true
		out[p+"/"+updateDelete+"_mirrored_first"] = udm
		// delete/update
		du := c(deleteUpdate)
		switch p {
		case policyServerWins, policyMerge:
			du.status, du.exists, du.city = store.MutationConflict, true, "Madrid"
		case policyUserDecides:
			du.status, du.parked, du.exists, du.city, du.resolved = store.MutationConflict, true, true, "Madrid", "-"
		default:
			du.status = store.MutationApplied
		}
		out[p+"/"+deleteUpdate] = du
		// create/create
		cc := c(createCreate)
		switch p {
		case policyServerWins, policyMerge:
			cc.status, cc.exists, cc.name = store.MutationConflict, true, "Server"
		case policyUserDecides:
			cc.status, cc.parked, cc.exists, cc.name = store.MutationConflict, true, true, "Server"
		default:
			cc.status, cc.exists, cc.name = store.MutationApplied, true, "Device"
		}
		out[p+"/"+createCreate] = cc
	}
	// last_write_wins with the device's edit older than the server's.
	out["last_write_wins/update/update_older_edit"] = policyCase{policy: policyLastWriteWins, sit: updateUpdate, older: true,
		status: store.MutationConflict, exists: true, city: "Madrid"}
	out["last_write_wins/delete/update_older_edit"] = policyCase{policy: policyLastWriteWins, sit: deleteUpdate, older: true,
		status: store.MutationConflict, exists: true, city: "Madrid"}
	// merge: disjoint edits merge, also when the mirror moved on before
	// the upload (the base comes from the record history).
	out["merge/disjoint_edits_merge"] = policyCase{policy: policyMerge, sit: updateUpdate,
		serverFields: map[string]any{"revenue": 99}, status: store.MutationApplied, exists: true, city: "Rome"}
	out["merge/disjoint_edits_merge_from_history"] = policyCase{policy: policyMerge, sit: updateUpdate, pullFirst: true,
		serverFields: map[string]any{"revenue": 99}, status: store.MutationApplied, exists: true, city: "Rome"}
	out["merge/overlap_falls_back_to_device_wins"] = policyCase{policy: policyMerge, tieBreak: policyDeviceWins, sit: updateUpdate,
		status: store.MutationApplied, exists: true, city: "Rome"}
	out["merge/overlap_with_user_decides_parks"] = policyCase{policy: policyMerge, tieBreak: policyUserDecides, sit: updateUpdate,
		status: store.MutationConflict, parked: true, exists: true, city: "Madrid", resolved: "Rome"}
	// Field owners win their field whatever the policy.
	out["server_wins/device_owned_field_wins"] = policyCase{policy: policyServerWins, owners: map[string]string{"city": "device"},
		sit: updateUpdate, status: store.MutationApplied, exists: true, city: "Rome"}
	out["device_wins/server_owned_field_is_kept"] = policyCase{policy: policyDeviceWins, owners: map[string]string{"city": "server"},
		sit: updateUpdate, deviceFields: map[string]any{"city": "Rome", "name": "Renamed"},
		status: store.MutationConflict, exists: true, city: "Madrid", name: "Renamed"}
	return out
}

func TestConflictPolicies(t *testing.T) {
	cases := policyCases()
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		n := 0
		for _, name := range sortedKeys(cases) {
			tc := cases[name]
			n++
			source := fmt.Sprintf("pol%d", n)
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, s, withSource(source), withConfig(func(src *config.Source) {
					acc, _ := src.Entity("account")
					acc.Conflict, acc.FieldOwner = tc.policy, tc.owners
					if tc.tieBreak != "" {
						acc.TieBreak = tc.tieBreak
					}
				}))
				runPolicyCase(t, e, tc)
			})
		}
	})
}

func runPolicyCase(t *testing.T, e *env, tc policyCase) {
	e.pull()
	_, v, ok := e.record("account", "acc-0003")
	require.True(t, ok)
	clientTime := e.clock.now().Add(time.Hour)
	if tc.older {
		clientTime = e.clock.now().Add(-time.Hour)
	}
	deviceFields := tc.deviceFields
	if deviceFields == nil {
		deviceFields = map[string]any{"city": "Rome"}
	}
	serverFields := tc.serverFields
	if serverFields == nil {
		serverFields = map[string]any{"city": "Madrid"}
	}
	var m Mutation
	id := "acc-0003"
	switch tc.sit {
	case updateUpdate:
		e.conn.Put("account", merge(map[string]any{"id": id}, serverFields))
		m = update("account", id, v, deviceFields)
	case updateDelete:
		e.conn.Delete("account", id)
		m = update("account", id, v, deviceFields)
	case deleteUpdate:
		e.conn.Put("account", merge(map[string]any{"id": id}, serverFields))
		m = del("account", id, v)
	case createCreate:
		id = "dup-1"
		e.conn.Put("account", map[string]any{"id": id, "name": "Server", "owner": ref("user", "u1"), "city": "Oslo"})
		e.pull()
		m = create("account", id, map[string]any{"name": "Device", "owner": ref("user", "u1"), "city": "Oslo"})
	}
	if tc.pullFirst {
		e.pull()
	}
	m.ClientTime = clientTime.Format(time.RFC3339Nano)
	e.acceptOK(1, m)
	e.push()

	got := e.mutation(1, m.MutationID)
	assert.Equal(t, tc.status, got.Status, "status (reason %q)", got.Reason)
	assert.Equal(t, tc.parked, got.Parked, "parked")
	checkBackend(t, e, id, tc.exists, tc.city, tc.name)

	if tc.status != store.MutationApplied {
		errs, err := e.p.SyncErrors(ctxT(t), e.caller(1).Caller)
		require.NoError(t, err)
		require.Len(t, errs, 1)
		assert.Equal(t, m.MutationID, errs[0].MutationID)
		assert.NotEmpty(t, errs[0].Reason)
		if tc.status == store.MutationConflict && tc.sit != updateDelete {
			assert.NotEmpty(t, errs[0].ServerRecord, "a conflict shows the server's record")
		}
	}
	if tc.resolved != "" {
		errs, err := e.p.SyncErrors(ctxT(t), e.caller(1).Caller)
		require.NoError(t, err)
		require.Len(t, errs, 1)
		require.NoError(t, e.p.Resolve(ctxT(t), ResolveRequest{Caller: e.caller(1).Caller, ID: errs[0].ID, Resolution: ResolveKeepMine}))
		e.push()
		assert.Equal(t, store.MutationApplied, e.status(1, m.MutationID), "after keep_mine: %s", e.mutation(1, m.MutationID).Reason)
		if tc.resolved == "-" {
			checkBackend(t, e, id, false, "", "")
		} else {
			checkBackend(t, e, id, true, tc.resolved, "")
		}
	}
}

// checkBackend checks the back end's record and that the mirror agrees.
func checkBackend(t *testing.T, e *env, id string, exists bool, city, name string) {
	t.Helper()
	f, ok := e.backend("account", id)
	require.Equal(t, exists, ok, "the back end has %s", id)
	mf, _, mok := e.record("account", id)
	require.Equal(t, exists, mok, "the mirror has %s", id)
	if !exists {
		return
	}
	if city != "" {
		assert.Equal(t, city, f["city"], "back end city")
	}
	if name != "" {
		assert.Equal(t, name, f["name"], "back end name")
	}
	for k, v := range mf {
		assert.True(t, equalJSON(v, f[k]), "the mirror's %s %v equals the back end's %v", k, v, f[k])
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
