package e2e

import (
	"testing"

	"github.com/synchub/synchub/host/hub"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// TestDevicesSeeExactlyTheirRecordsAndFollowServerChanges: a first sync
// gives each device exactly the accounts and contacts its owner holds in the
// CRM; server-side edits, deletes and an owner change reach the right devices
// after the next pull and sync.
func TestDevicesSeeExactlyTheirRecordsAndFollowServerChanges(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st, "server_wins")
		w.pull()
		alice, bob := w.device("alice"), w.device("bob")
		w.sync(alice)
		w.sync(bob)
		for _, set := range []struct{ set, entity string }{{"accounts", "account"}, {"contacts", "contact"}} {
			if got, want := w.localIDs(alice, set.entity), w.ownedBy(set.set, w.alice); !equalIDs(got, want) || len(want) == 0 {
				t.Fatalf("alice's %s after the first sync: %v, want %v", set.entity, got, want)
			}
			if got, want := w.localIDs(bob, set.entity), w.ownedBy(set.set, w.bob); !equalIDs(got, want) {
				t.Fatalf("bob's %s after the first sync: %v, want %v", set.entity, got, want)
			}
		}

		aliceAccounts := w.ownedBy("accounts", w.alice)
		edited, moved, deleted := aliceAccounts[0], aliceAccounts[1], aliceAccounts[2]
		if w.crm.Upsert("accounts", edited, map[string]any{"name": "Renamed on the server"}) == "" {
			t.Fatal("server-side edit failed")
		}
		if w.crm.Upsert("accounts", moved, map[string]any{"_ownerid_value": w.bob.SystemUserID}) == "" {
			t.Fatal("server-side owner change failed")
		}
		if !w.crm.Delete("accounts", deleted) {
			t.Fatal("server-side delete failed")
		}
		w.pull()
		w.sync(alice)
		w.sync(bob)
		if got, want := w.localIDs(alice, "account"), w.ownedBy("accounts", w.alice); !equalIDs(got, want) {
			t.Errorf("alice's accounts after server changes: %v, want %v", got, want)
		}
		if got, want := w.localIDs(bob, "account"), w.ownedBy("accounts", w.bob); !equalIDs(got, want) {
			t.Errorf("bob's accounts after server changes: %v, want %v", got, want)
		}
		if name := w.local(alice, "account", edited).Fields["name"]; name != "Renamed on the server" {
			t.Errorf("alice's edited account has name %v", name)
		}
	})
}

// TestValidateAcceptsAConfigPointingAtTheEmulator runs what
// `synchub validate` runs: launch the plugin, Configure, Check, Schema, and
// the configured fields and filters held against the connector.
func TestValidateAcceptsAConfigPointingAtTheEmulator(t *testing.T) {
	w := newWorld(t, storetest.SQLite(t), "server_wins")
	srcs, err := hub.StartSources(w.ctx, w.hubConfig, hub.SourceOptions{})
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	defer srcs.Stop()
	src, _ := srcs.Get("crm")
	if src.Identity.ID == "" || len(src.Schema.Entities) != 2 {
		t.Errorf("validate found identity %q and %d entities", src.Identity.ID, len(src.Schema.Entities))
	}
}
