package e2e

import (
	"fmt"
	"testing"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// push sends what devices uploaded to the back end, as the push worker does.
func (w *world) push() {
	w.t.Helper()
	if _, err := w.hub.Pusher().PushSource(w.ctx, "crm"); err != nil {
		w.t.Fatalf("push: %v", err)
	}
}

// TestOfflineEditsReachTheCRMAndTheOtherDevice: an edit and a new contact
// made offline on alice's device reach the CRM once, alice's pending changes
// are settled, and a server-side edit to another field of the same record
// survives (merge).
func TestOfflineEditsReachTheCRMAndTheOtherDevice(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st, "merge")
		w.pull()
		alice := w.device("alice")
		w.sync(alice)
		id := w.ownedBy("accounts", w.alice)[0]
		if err := alice.Update(w.ctx, "crm", "account", id, map[string]any{"telephone1": "555-0100"}); err != nil {
			t.Fatal(err)
		}
		contact, err := alice.Create(w.ctx, "crm", "contact", map[string]any{"firstname": "Offline", "lastname": "Created",
			"parentcustomerid": map[string]any{"entity": "account", "id": id},
			"ownerid":          map[string]any{"entity": "systemuser", "id": w.alice.SystemUserID}})
		if err != nil {
			t.Fatal(err)
		}
		// Meanwhile the server changes another field of the same account.
		if w.crm.Upsert("accounts", id, map[string]any{"address1_city": "Reykjavik"}) == "" {
			t.Fatal("server-side edit failed")
		}
		contactsBefore := w.crm.Count("contacts")
		w.sync(alice) // uploads
		w.push()
		w.pull()
		w.sync(alice) // downloads the applied results
		row, _ := w.crm.Get("accounts", id)
		if row["telephone1"] != "555-0100" || row["address1_city"] != "Reykjavik" {
			t.Errorf("CRM account after the merge: telephone1 %v, city %v", row["telephone1"], row["address1_city"])
		}
		if n := w.crm.Count("contacts"); n != contactsBefore+1 {
			t.Errorf("CRM contacts went from %d to %d, want one more", contactsBefore, n)
		}
		if _, ok := w.crm.Get("contacts", contact); !ok {
			t.Errorf("the offline contact %s is not in the CRM under its device id", contact)
		}
		status, err := alice.Status(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status.Pending != 0 {
			t.Errorf("alice still has %d pending changes after the sync", status.Pending)
		}
		rec := w.local(alice, "account", id)
		if rec.Fields["telephone1"] != "555-0100" || rec.Fields["address1_city"] != "Reykjavik" {
			t.Errorf("alice's account: %v", rec.Fields)
		}
		if got := fmt.Sprint(w.local(alice, "contact", contact).Fields["lastname"]); got != "Created" {
			t.Errorf("alice's contact lastname %q", got)
		}
	})
}
