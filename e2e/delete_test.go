package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/synchub/synchub/client"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// deleteOutcome is what one record of the delete scenario ends as: on
// the CRM or not, and the resolution the editing device picks for its
// sync error ("": it gets none).
type deleteOutcome struct {
	exists  bool
	resolve string
}

// TestDeletesOnBothSidesConverge: one device of alice edits a record the
// server deletes meanwhile (edited), deletes a record the server edits
// meanwhile (deleted), and deletes a record the server deletes too
// (both). The policy decides; sync errors are resolved; then the CRM,
// the editing device and another device of alice agree, the CRM's
// counts changed by exactly the deletes (and a re-creation), and the
// contacts the CRM removed with their accounts are gone from the devices.
func TestDeletesOnBothSidesConverge(t *testing.T) {
	take, keep := client.ResolveTakeServer, client.ResolveKeepMine
	cases := []struct {
		policy                string
		edited, deleted, both deleteOutcome
		// pullFirst: the hub mirrors the server's changes before the
		// device uploads (an edit of a record gone from the mirror).
		pullFirst bool
	}{
		// The edit of a deleted record is not found; the delete of an
		// edited record is a conflict whose server record comes back.
		{"server_wins", deleteOutcome{false, take}, deleteOutcome{true, take}, deleteOutcome{false, ""}, false},
		// The whole record wins: the deleted record is created again, and
		// the delete goes through.
		{"device_wins_full", deleteOutcome{true, ""}, deleteOutcome{false, ""}, deleteOutcome{false, ""}, false},
		{"device_wins_full", deleteOutcome{true, ""}, deleteOutcome{false, ""}, deleteOutcome{false, ""}, true},
		// The user keeps the edit (the record is created again) and takes
		// the server's edited record over the delete.
		{"user_decides", deleteOutcome{true, keep}, deleteOutcome{true, take}, deleteOutcome{false, ""}, false},
		{"user_decides", deleteOutcome{true, keep}, deleteOutcome{true, take}, deleteOutcome{false, ""}, true},
	}
	for _, tc := range cases {
		name := tc.policy
		if tc.pullFirst {
			name += "/the_hub_pulled_before_the_upload"
		}
		t.Run(name, func(t *testing.T) {
			storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
				w := newWorldWith(t, st, worldOptions{Conflict: tc.policy})
				w.pull()
				dev, other := w.device("alice"), w.device("alice")
				w.sync(dev)
				w.sync(other)
				ids := w.ownedBy("accounts", w.alice)
				edited, deleted, both := ids[0], ids[1], ids[2]
				want := map[string]deleteOutcome{edited: tc.edited, deleted: tc.deleted, both: tc.both}
				accounts, contacts := w.crm.Count("accounts"), w.crm.Count("contacts")
				// The CRM deletes an account's contacts with it.
				children := map[string]int{}
				for _, cid := range w.crm.IDs("contacts") {
					row, _ := w.crm.Get("contacts", cid)
					children[strings.ToLower(fmt.Sprint(row["_parentcustomerid_value"]))]++
				}

				w.update(dev, "account", edited, map[string]any{"telephone1": "555-0199"})
				for _, id := range []string{deleted, both} {
					if err := dev.Delete(w.ctx, "crm", "account", id); err != nil {
						t.Fatal(err)
					}
				}
				if !w.crm.Delete("accounts", edited) || !w.crm.Delete("accounts", both) {
					t.Fatal("server-side delete failed")
				}
				if w.crm.Upsert("accounts", deleted, map[string]any{"telephone1": "555-0111"}) == "" {
					t.Fatal("server-side edit failed")
				}

				if tc.pullFirst {
					w.pull()
				}
				w.settle(dev, other)
				errs := w.syncErrors(dev)
				for id, o := range want {
					e, ok := errs[id]
					switch {
					case o.resolve == "" && ok:
						t.Errorf("sync error for %s: %s (%s)", id, e.Reason, e.Status)
					case o.resolve != "" && !ok:
						t.Errorf("no sync error for %s; the errors: %v", id, errs)
					case ok:
						if err := dev.Resolve(w.ctx, "crm", e.ID, o.resolve); err != nil {
							t.Fatalf("resolve %s %s: %v", id, o.resolve, err)
						}
					}
				}
				w.settle(dev, other)

				wantAccounts, wantContacts := accounts, contacts
				for id, o := range want {
					row, ok := w.crm.Get("accounts", id)
					if ok != o.exists {
						t.Errorf("account %s on the CRM: %t, want %t", id, ok, o.exists)
					}
					if !o.exists {
						wantAccounts--
					}
					if id != deleted || !o.exists {
						wantContacts -= children[id] // deleted on the CRM at some point
					}
					switch {
					case !ok:
					case id == edited && row["telephone1"] != "555-0199":
						t.Errorf("the re-created account has telephone1 %v, want the device's edit", row["telephone1"])
					case id == edited && !strings.EqualFold(fmt.Sprint(row["_ownerid_value"]), w.alice.SystemUserID):
						t.Errorf("the re-created account is owned by %v", row["_ownerid_value"])
					case id == deleted && row["telephone1"] != "555-0111":
						t.Errorf("the kept account has telephone1 %v, want the server's edit", row["telephone1"])
					}
				}
				if a, c := w.crm.Count("accounts"), w.crm.Count("contacts"); a != wantAccounts || c != wantContacts {
					t.Errorf("CRM has %d accounts and %d contacts, want %d and %d", a, c, wantAccounts, wantContacts)
				}
				w.assertConverged("the editing device", dev, w.alice, nil)
				w.assertConverged("the other device", other, w.alice, nil)
			})
		})
	}
}
