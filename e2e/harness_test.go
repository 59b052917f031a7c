package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/client"
	crmemu "github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "synchub-e2e-")
	if err != nil {
		panic(err)
	}
	pluginDir = dir
	for _, name := range []string{"dynamicscrm"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/synchub/synchub/plugins/"+name).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build plugin %s: %v\n%s", name, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is one scenario's back end, hub and devices.
type world struct {
	t          *testing.T
	ctx        context.Context
	crm        *crmemu.Server
	hub        *hub.Hub
	srv        *httptest.Server
	alice, bob crmemu.User
	hubConfig  *config.Config
}

const configTmpl = `
hub {
  plugin_dir     = %q
  data_dir       = %q
  checkpoint_key = "e2e-checkpoint-key-0123456789abcdef0123"
}
source "crm" {
  plugin = "dynamicscrm"
  config = {
    url           = %q
    token_url     = %q
    tenant_id     = "synchub-tenant"
    client_id     = "synchub-dev"
    client_secret = "synchub-dev"
  }
  interval      = "0"
  max_staleness = "0"
  entity "account" {
    fields       = ["name", "telephone1", "address1_city", "ownerid"]
    partition_by = "owner:ownerid"
    conflict     = %q
  }
  entity "contact" {
    fields       = ["firstname", "lastname", "emailaddress1", "parentcustomerid", "ownerid"]
    partition_by = "owner:ownerid"
    parents      = ["account"]
  }
}
user "alice" {
  password = "alice"
  identity "crm" { id = %q }
}
user "bob" {
  password = "bob"
  identity "crm" { id = %q }
}
`

// newWorld starts the CRM emulator, a hub on st using the real plugin, and
// serves the hub's API.
func newWorld(t *testing.T, st *store.Store, conflict string) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	crm := crmemu.New(crmemu.Options{Seed: 7, Accounts: 12, ContactsPerAccount: 1, NotesPerAccount: -1, Users: 2})
	if _, err := crm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(crm.Close)
	users := crm.Users()
	w := &world{t: t, ctx: ctx, crm: crm, alice: users[0], bob: users[1]}
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.hcl")
	src := fmt.Sprintf(configTmpl, pluginDir, dir, crm.URL(), crm.TokenURL(), conflict, w.alice.SystemUserID, w.bob.SystemUserID)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st, Logger: storetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	w.hub = h
	w.hubConfig = cfg
	w.srv = httptest.NewServer(h.Handler())
	t.Cleanup(w.srv.Close)
	return w
}

// pull brings the mirror up to date with the back end.
func (w *world) pull() {
	w.t.Helper()
	for _, e := range []string{"account", "contact"} {
		if _, err := w.hub.Puller().PullEntity(w.ctx, "crm", e, false); err != nil {
			w.t.Fatalf("pull %s: %v", e, err)
		}
	}
}

// device logs a new device in as user.
func (w *world) device(user string) *client.Client {
	w.t.Helper()
	c, err := client.Open(w.ctx, client.Options{Path: filepath.Join(w.t.TempDir(), user+".db"), Logger: hclog.NewNullLogger()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	if err := c.Login(w.ctx, w.srv.URL, user, user); err != nil {
		w.t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func (w *world) sync(c *client.Client) client.SyncReport {
	w.t.Helper()
	rep, err := c.Sync(w.ctx, client.SyncOptions{})
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	return rep
}

// ownedBy lists the ids of the emulator's rows of set owned by user.
func (w *world) ownedBy(set string, user crmemu.User) []string {
	var ids []string
	for _, id := range w.crm.IDs(set) {
		row, ok := w.crm.Get(set, id)
		if ok && strings.EqualFold(fmt.Sprint(row["_ownerid_value"]), user.SystemUserID) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// localIDs lists the ids a device holds for entity.
func (w *world) localIDs(c *client.Client, entity string) []string {
	w.t.Helper()
	recs, err := c.List(w.ctx, "crm", entity, "")
	if err != nil {
		w.t.Fatalf("list %s: %v", entity, err)
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}

func (w *world) local(c *client.Client, entity, id string) client.Record {
	w.t.Helper()
	r, err := c.Get(w.ctx, "crm", entity, id)
	if err != nil {
		w.t.Fatalf("get %s %s: %v", entity, id, err)
	}
	return r
}

func equalIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}
