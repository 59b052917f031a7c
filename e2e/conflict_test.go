package e2e

import (
	"fmt"
	"testing"

	"github.com/synchub/synchub/client"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// update edits a record on a device, offline.
func (w *world) update(dev *client.Client, entity, id string, fields map[string]any) {
	w.t.Helper()
	if err := dev.Update(w.ctx, "crm", entity, id, fields); err != nil {
		w.t.Fatalf("update %s %s: %v", entity, id, err)
	}
}

// syncErrors maps a device's open sync errors by record id.
func (w *world) syncErrors(dev *client.Client) map[string]client.SyncError {
	w.t.Helper()
	errs, err := dev.Errors(w.ctx, "crm")
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]client.SyncError{}
	for _, e := range errs {
		out[e.RecordID] = e
	}
	return out
}

// settle runs the rounds that bring every device and the CRM to rest:
// upload, push, pull, download.
func (w *world) settle(devs ...*client.Client) {
	w.t.Helper()
	for _, d := range devs {
		w.sync(d)
	}
	w.push()
	w.pull()
	for _, d := range devs {
		w.sync(d)
	}
}

// sameRecordOutcome is what a record both devices edited ends as: where
// each field's value comes from ("base": as before, "a1" or "a2": that
// device's edit, "srv": the server's edit in between), and the
// resolution the second device picks for its sync error ("": it gets
// none, its edit was applied).
type sameRecordOutcome struct {
	name, telephone, city string
	resolve               string
}

// TestOfflineEditsOnTwoDevicesUnderEachConflictPolicy: two devices of
// alice edit, offline, a record each (different records) and the same two
// records, device 1 in telephone1, device 2 in telephone1 and name.
// Device 1 syncs first and its edits are applied; then the server edits
// address1_city of the shared records; then device 2 syncs, and its
// edits of the shared records meet a newer version. Each policy decides
// the CRM's values; a device whose edit was not (or not wholly) applied
// sees a sync error and resolves it; then both devices and the CRM agree,
// with no record added or lost.
func TestOfflineEditsOnTwoDevicesUnderEachConflictPolicy(t *testing.T) {
	take, keep := client.ResolveTakeServer, client.ResolveKeepMine
	cases := []struct {
		policy string
		x, w   sameRecordOutcome
	}{
		{"server_wins", sameRecordOutcome{"base", "a1", "srv", take}, sameRecordOutcome{"base", "a1", "srv", take}},
		{"device_wins", sameRecordOutcome{"a2", "a2", "srv", ""}, sameRecordOutcome{"a2", "a2", "srv", ""}},
		// The device's whole record wins: the server's city reverts too.
		{"device_wins_full", sameRecordOutcome{"a2", "a2", "base", ""}, sameRecordOutcome{"a2", "a2", "base", ""}},
		// The server's edit is later than device 2's.
		{"last_write_wins", sameRecordOutcome{"base", "a1", "srv", take}, sameRecordOutcome{"base", "a1", "srv", take}},
		// name merges; telephone1 overlaps device 1's applied edit and
		// follows tie_break (server_wins): a sync error for the lost field.
		{"merge", sameRecordOutcome{"a2", "a1", "srv", take}, sameRecordOutcome{"a2", "a1", "srv", take}},
		{"user_decides", sameRecordOutcome{"a2", "a2", "srv", keep}, sameRecordOutcome{"base", "a1", "srv", take}},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
				w := newWorldWith(t, st, worldOptions{Conflict: tc.policy})
				w.pull()
				dev1, dev2 := w.device("alice"), w.device("alice")
				w.sync(dev1)
				w.sync(dev2)
				ids := w.ownedBy("accounts", w.alice)
				if len(ids) < 4 {
					t.Fatalf("alice owns %d accounts, want 4", len(ids))
				}
				shared := map[string]sameRecordOutcome{ids[0]: tc.x, ids[1]: tc.w}
				only1, only2 := ids[2], ids[3]
				accounts, contacts := w.crm.Count("accounts"), w.crm.Count("contacts")
				base := map[string]map[string]any{}
				for id := range shared {
					base[id], _ = w.crm.Get("accounts", id)
				}
				value := func(id, field, from string) any {
					switch {
					case from == "base":
						return base[id][field]
					case from == "a1" && field == "telephone1":
						return "111-" + id[:8]
					case from == "a2" && field == "telephone1":
						return "222-" + id[:8]
					case from == "a2" && field == "name":
						return "Device 2 " + id[:8]
					case from == "srv" && field == "address1_city":
						return "Server City " + id[:8]
					}
					t.Fatalf("no %s value of %s", from, field)
					return nil
				}

				for id := range shared {
					w.update(dev1, "account", id, map[string]any{"telephone1": value(id, "telephone1", "a1")})
					w.update(dev2, "account", id, map[string]any{"telephone1": value(id, "telephone1", "a2"), "name": value(id, "name", "a2")})
				}
				w.update(dev1, "account", only1, map[string]any{"telephone1": "111-only"})
				w.update(dev2, "account", only2, map[string]any{"name": "Device 2 only"})

				w.sync(dev1)
				w.push()
				for id := range shared {
					if w.crm.Upsert("accounts", id, map[string]any{"address1_city": value(id, "address1_city", "srv")}) == "" {
						t.Fatal("server-side edit failed")
					}
				}
				w.sync(dev2)
				w.push()
				w.pull()
				w.sync(dev1)
				w.sync(dev2)

				errs := w.syncErrors(dev2)
				for id, want := range shared {
					e, ok := errs[id]
					switch {
					case want.resolve == "" && ok:
						t.Errorf("device 2 has a sync error for %s: %s (%s)", id, e.Reason, e.Status)
					case want.resolve != "" && !ok:
						t.Errorf("device 2 has no sync error for %s; its errors: %v", id, errs)
					case ok:
						if err := dev2.Resolve(w.ctx, "crm", e.ID, want.resolve); err != nil {
							t.Fatalf("resolve %s %s: %v", id, want.resolve, err)
						}
					}
				}
				if len(errs) > len(shared) {
					t.Errorf("device 2 has %d sync errors: %v", len(errs), errs)
				}
				if errs := w.syncErrors(dev1); len(errs) != 0 {
					t.Errorf("device 1 has sync errors: %v", errs)
				}
				w.settle(dev2, dev1)

				for id, want := range shared {
					row, _ := w.crm.Get("accounts", id)
					for _, f := range []struct{ field, from string }{{"name", want.name}, {"telephone1", want.telephone}, {"address1_city", want.city}} {
						if got, exp := row[f.field], value(id, f.field, f.from); fmt.Sprint(got) != fmt.Sprint(exp) {
							t.Errorf("CRM %s.%s = %v, want %v (%s)", id, f.field, got, exp, f.from)
						}
					}
				}
				if row, _ := w.crm.Get("accounts", only1); row["telephone1"] != "111-only" {
					t.Errorf("device 1's edit of its own record: telephone1 %v", row["telephone1"])
				}
				if row, _ := w.crm.Get("accounts", only2); row["name"] != "Device 2 only" {
					t.Errorf("device 2's edit of its own record: name %v", row["name"])
				}
				if a, c := w.crm.Count("accounts"), w.crm.Count("contacts"); a != accounts || c != contacts {
					t.Errorf("CRM went from %d accounts and %d contacts to %d and %d", accounts, contacts, a, c)
				}
				w.assertConverged("device 1", dev1, w.alice, nil)
				w.assertConverged("device 2", dev2, w.alice, nil)
			})
		})
	}
}
