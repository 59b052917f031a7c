package e2e

import (
	"fmt"
	"slices"
	"testing"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// active is the account filter of the filter scenario, as the test
// evaluates it on the emulator's rows.
func active(row map[string]any) bool { return fmt.Sprint(row["statecode"]) == "0" }

// TestRecordsLeavingTheFilterLeaveTheDevices: accounts are filtered to
// active ones (statecode eq 0). A server edit that deactivates an account
// removes it from alice's devices, one that reactivates an account brings
// it to them, and an account deactivated while a device edits it offline
// takes the edit on the CRM (merge: the edit and the deactivation are
// disjoint) and still leaves the devices.
func TestRecordsLeavingTheFilterLeaveTheDevices(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorldWith(t, st, worldOptions{AccountFilter: "statecode eq 0", Accounts: 20, Conflict: "merge"})
		w.pull()
		dev, other := w.device("alice"), w.device("alice")
		w.sync(dev)
		w.sync(other)
		visible := w.rowsOf("accounts", w.alice, active)
		all := w.ownedBy("accounts", w.alice)
		if len(visible) < 3 {
			t.Fatalf("alice has %d active accounts, want 3", len(visible))
		}
		if got := w.localIDs(dev, "account"); !equalIDs(got, visible) || len(visible) == len(all) {
			t.Fatalf("first sync: %v, want the active accounts %v of %v", got, visible, all)
		}
		w.assertConverged("device", dev, w.alice, active)

		leaves, editedLeaves := visible[0], visible[1]
		var enters string
		for _, id := range all {
			if !slices.Contains(visible, id) {
				enters = id
				break
			}
		}
		accounts := w.crm.Count("accounts")
		w.update(dev, "account", editedLeaves, map[string]any{"telephone1": "555-0142"})
		for _, id := range []string{leaves, editedLeaves} {
			if w.crm.Upsert("accounts", id, map[string]any{"statecode": 1, "statuscode": 2}) == "" {
				t.Fatalf("deactivate %s failed", id)
			}
		}
		if w.crm.Upsert("accounts", enters, map[string]any{"statecode": 0, "statuscode": 1}) == "" {
			t.Fatalf("activate %s failed", enters)
		}
		w.pull() // the hub sees the records leave before the device uploads its edit
		w.settle(dev, other)

		if row, _ := w.crm.Get("accounts", editedLeaves); row["telephone1"] != "555-0142" || active(row) {
			t.Errorf("the account edited offline and deactivated: telephone1 %v, statecode %v", row["telephone1"], row["statecode"])
		}
		if n := w.crm.Count("accounts"); n != accounts {
			t.Errorf("CRM accounts went from %d to %d", accounts, n)
		}
		w.assertConverged("the editing device", dev, w.alice, active)
		w.assertConverged("the other device", other, w.alice, active)
		for _, id := range []string{leaves, editedLeaves} {
			if slices.Contains(w.localIDs(other, "account"), id) {
				t.Errorf("deactivated account %s is still on a device", id)
			}
		}
		if !slices.Contains(w.localIDs(other, "account"), enters) {
			t.Errorf("reactivated account %s did not reach the device", enters)
		}
	})
}
