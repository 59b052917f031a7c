package e2e

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/client"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// forEachReopenableDB runs fn per database with a function that opens
// (again) the same database: a restarted hub finds what the killed one
// committed, and nothing else.
func forEachReopenableDB(t *testing.T, fn func(t *testing.T, open func() *store.Store)) {
	run := func(t *testing.T, opts store.Options) {
		var cur *store.Store
		t.Cleanup(func() {
			if cur != nil {
				cur.Close()
			}
		})
		opts.Logger = storetest.Logger(t)
		fn(t, func() *store.Store {
			if cur != nil {
				cur.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := store.Open(ctx, opts)
			if err != nil {
				t.Fatalf("open the store: %v", err)
			}
			cur = s
			return s
		})
	}
	t.Run("sqlite", func(t *testing.T) {
		run(t, store.Options{Kind: store.KindSQLite, Path: filepath.Join(t.TempDir(), "data", "synchub.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		run(t, store.Options{Kind: store.KindPostgres, DSN: storetest.PostgresDSN(t), MaxConns: 8})
	})
}

// restartHub kills the hub (its plugin dies, its database connections
// close) and opens a new one on the same database.
func (w *world) restartHub(open func() *store.Store) {
	w.t.Helper()
	w.closeHub()
	w.st = open()
	w.openHub()
}

// TestAHubKilledMidSyncLosesNothingAndAppliesNothingTwice kills the hub
// three times, each with a call in flight, and restarts it on the same
// database: (1) while its push of a device's offline creates and edits is
// at the CRM, which applies them after the hub is gone (the answer is
// lost); (2) while a device downloads its first sync page by page; (3)
// while a full pull pages through the accounts. After each restart the
// next rounds converge: the CRM holds each offline create once and each
// edit, and the devices hold exactly what the CRM has.
func TestAHubKilledMidSyncLosesNothingAndAppliesNothingTwice(t *testing.T) {
	forEachReopenableDB(t, func(t *testing.T, open func() *store.Store) {
		w := newWorldWith(t, open(), worldOptions{Conflict: "merge", AccountPageSize: 5, Accounts: 30})
		w.pull()
		dev, other := w.device("alice"), w.device("alice")
		w.sync(dev)
		w.sync(other)

		// (1) The push in flight.
		accounts := w.ownedBy("accounts", w.alice)
		contactsBefore := w.crm.Count("contacts")
		var created []string
		for i := range 3 {
			id, err := dev.Create(w.ctx, "crm", "contact", map[string]any{"firstname": "Restart", "lastname": string(rune('A' + i)),
				"parentcustomerid": map[string]any{"entity": "account", "id": accounts[i]},
				"ownerid":          map[string]any{"entity": "systemuser", "id": w.alice.SystemUserID}})
			if err != nil {
				t.Fatal(err)
			}
			created = append(created, id)
		}
		for _, id := range accounts[:2] {
			w.update(dev, "account", id, map[string]any{"telephone1": "555-0177"})
		}
		w.sync(dev) // accepted: durable on the hub
		w.crmGate.hold(func(r *http.Request, body []byte) bool {
			return strings.HasSuffix(r.URL.Path, "/$batch") && (bytes.Contains(body, []byte("PATCH ")) || bytes.Contains(body, []byte("POST ")))
		})
		pushed := make(chan error, 1)
		go func() {
			_, err := w.hub.Pusher().PushSource(w.ctx, "crm")
			pushed <- err
		}()
		w.waitArrived(w.crmGate)
		w.closeHub()
		<-pushed // failed or gave up: its plugin is dead
		w.releaseAndWait(w.crmGate)
		w.st.Close()
		w.st = open()
		w.openHub()
		w.eventually("the offline changes on the CRM after the restart", time.Minute, func() bool {
			w.push()
			for _, id := range created {
				if _, ok := w.crm.Get("contacts", id); !ok {
					return false
				}
			}
			for _, id := range accounts[:2] {
				if row, _ := w.crm.Get("accounts", id); row["telephone1"] != "555-0177" {
					return false
				}
			}
			st, err := dev.Status(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			w.pull()
			w.sync(dev)
			return st.Pending == 0
		})
		w.settle(dev, other)
		if n := w.crm.Count("contacts"); n != contactsBefore+len(created) {
			t.Errorf("CRM contacts went from %d to %d, want %d more", contactsBefore, n, len(created))
		}
		w.assertConverged("the editing device", dev, w.alice, nil)
		w.assertConverged("the other device", other, w.alice, nil)

		// (2) A device's first sync in flight, at its second page.
		fresh := w.deviceWith("alice", client.Options{PageSize: 4})
		w.hubGate.hold(func(r *http.Request, _ []byte) bool {
			return strings.HasSuffix(r.URL.Path, "/changes") && r.URL.Query().Get("checkpoint") != ""
		})
		synced := make(chan error, 1)
		go func() {
			_, err := fresh.Sync(w.ctx, client.SyncOptions{})
			synced <- err
		}()
		w.waitArrived(w.hubGate)
		w.closeHub()
		w.releaseAndWait(w.hubGate)
		if err := <-synced; err == nil {
			t.Error("the sync cut by the hub's death succeeded")
		}
		w.restartHub(open)
		w.sync(fresh)
		w.assertConverged("the device whose first sync was cut", fresh, w.alice, nil)

		// (3) A full pull in flight, at its second page of accounts, with
		// changes on the CRM to pick up.
		w.crm.AddRecords("accounts", 10)
		if w.crm.Upsert("accounts", accounts[3], map[string]any{"name": "Renamed while the hub was down"}) == "" {
			t.Fatal("server-side edit failed")
		}
		w.crmGate.hold(func(r *http.Request, _ []byte) bool {
			return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/accounts") && strings.Contains(r.URL.RawQuery, "skiptoken")
		})
		pulled := make(chan error, 1)
		go func() {
			_, err := w.hub.Puller().PullEntity(w.ctx, "crm", "account", true)
			pulled <- err
		}()
		w.waitArrived(w.crmGate)
		w.closeHub()
		w.releaseAndWait(w.crmGate)
		<-pulled
		w.restartHub(open)
		w.pull()
		for _, d := range []*client.Client{dev, other, fresh} {
			w.sync(d)
		}
		w.assertConverged("the editing device after the cut pull", dev, w.alice, nil)
		w.assertConverged("the other device after the cut pull", other, w.alice, nil)
		w.assertConverged("the third device after the cut pull", fresh, w.alice, nil)
	})
}
