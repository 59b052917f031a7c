package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
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
	opts       worldOptions
	crm        *crmemu.Server
	crmGate    *gate // in front of the emulator: scenarios hold requests in flight
	st         *store.Store
	hub        *hub.Hub
	started    bool      // hub.Start ran: River must be stopped before Close
	front      *hubFront // the devices' stable URL, whatever hub is open behind it
	hubGate    *gate     // in front of the hub: scenarios hold device requests in flight
	srv        *httptest.Server
	alice, bob crmemu.User
	hubConfig  *config.Config
}

// worldOptions shape a scenario's back end and config.
type worldOptions struct {
	// Conflict is the account entity's conflict policy (default server_wins).
	Conflict string
	// AccountFilter is the account entity's filter ("" = none).
	AccountFilter string
	// AccountFiles is the body of the account entity's files block ("" = no block).
	AccountFiles string
	// AccountPageSize is the account entity's page_size (0 = default).
	AccountPageSize int
	// Accounts is the number of seeded accounts (default 12).
	Accounts int
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
%s  }
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

// entityFields are the configured fields per entity set, as the emulator
// names its rows' properties (a lookup f is "_f_value" there).
var entityFields = map[string][]string{
	"accounts": {"name", "telephone1", "address1_city", "ownerid"},
	"contacts": {"firstname", "lastname", "emailaddress1", "parentcustomerid", "ownerid"},
}

var entityOf = map[string]string{"accounts": "account", "contacts": "contact"}

// newWorld starts the CRM emulator, a hub on st using the real plugin, and
// serves the hub's API.
func newWorld(t *testing.T, st *store.Store, conflict string) *world {
	return newWorldWith(t, st, worldOptions{Conflict: conflict})
}

func newWorldWith(t *testing.T, st *store.Store, opts worldOptions) *world {
	t.Helper()
	if opts.Conflict == "" {
		opts.Conflict = "server_wins"
	}
	if opts.Accounts == 0 {
		opts.Accounts = 12
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	// The emulator's clock runs a minute ahead of the devices': a server
	// edit made after a device's offline edit is later by more than the
	// one-second resolution of modifiedon (last_write_wins compares them).
	crm := crmemu.New(crmemu.Options{Seed: 7, Accounts: opts.Accounts, ContactsPerAccount: 1, NotesPerAccount: -1, Users: 2,
		Now: func() time.Time { return time.Now().Add(time.Minute) }})
	w := &world{t: t, ctx: ctx, opts: opts, crm: crm, st: st, crmGate: &gate{next: crm.Handler()}}
	crmSrv := httptest.NewServer(w.crmGate)
	t.Cleanup(crmSrv.Close)
	t.Cleanup(w.crmGate.release) // never leave a held request behind
	users := crm.Users()
	w.alice, w.bob = users[0], users[1]
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.hcl")
	var extra strings.Builder
	if opts.AccountFilter != "" {
		fmt.Fprintf(&extra, "    filter       = %q\n", opts.AccountFilter)
	}
	if opts.AccountPageSize > 0 {
		fmt.Fprintf(&extra, "    page_size    = %d\n", opts.AccountPageSize)
	}
	if opts.AccountFiles != "" {
		fmt.Fprintf(&extra, "    files {\n%s\n    }\n", opts.AccountFiles)
	}
	tokenURL := crmSrv.URL + "/synchub-tenant/oauth2/v2.0/token"
	src := fmt.Sprintf(configTmpl, pluginDir, dir, crmSrv.URL, tokenURL, opts.Conflict, extra.String(), w.alice.SystemUserID, w.bob.SystemUserID)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w.hubConfig = cfg
	w.front = &hubFront{}
	w.hubGate = &gate{next: w.front}
	w.srv = httptest.NewServer(w.hubGate)
	t.Cleanup(w.srv.Close)
	t.Cleanup(w.hubGate.release)
	w.openHub()
	t.Cleanup(w.closeHub)
	return w
}

// openHub opens a hub on w.st and puts it behind the devices' URL.
func (w *world) openHub() {
	w.t.Helper()
	h, err := hub.Open(w.ctx, hub.Options{Config: w.hubConfig, Store: w.st, Logger: storetest.Logger(w.t)})
	if err != nil {
		w.t.Fatal(err)
	}
	w.hub, w.started = h, false
	w.front.set(h.Handler())
}

// startHub runs the hub's background work (River: uploads, push jobs),
// as a serving hub does.
func (w *world) startHub() {
	w.t.Helper()
	if err := w.hub.Start(w.ctx); err != nil {
		w.t.Fatalf("start the hub: %v", err)
	}
	w.started = true
}

// closeHub takes the hub away from the devices and closes it: background
// work stops (a pull a push triggered finishes its page), the plugin is
// killed, whatever call was in flight fails.
func (w *world) closeHub() {
	if w.hub == nil {
		return
	}
	w.front.set(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.started {
		_ = w.hub.Files().Stop(ctx)
		_ = w.hub.Pusher().Stop(ctx)
	}
	_ = w.hub.Puller().Stop(ctx) // also waits for pulls started without River
	w.hub.Close()
	w.hub = nil
}

// hubFront is the devices' view of the hub: one URL across hub restarts;
// 503 while no hub is open.
type hubFront struct {
	mu sync.RWMutex
	h  http.Handler
}

func (f *hubFront) set(h http.Handler) {
	f.mu.Lock()
	f.h = h
	f.mu.Unlock()
}

func (f *hubFront) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	f.mu.RLock()
	h := f.h
	f.mu.RUnlock()
	if h == nil {
		http.Error(rw, "hub down", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(rw, r)
}

// gate passes requests to next, except that one matching request may be
// held: the scenario learns it arrived and decides when it goes on.
type gate struct {
	next http.Handler

	mu      sync.Mutex
	match   func(r *http.Request, body []byte) bool
	arrived chan struct{} // closed when the held request arrives
	open    chan struct{} // closed to let it go on
	done    chan struct{} // closed when next has served it
	once    sync.Once
}

// hold arms the gate for the first request match accepts.
func (g *gate) hold(match func(r *http.Request, body []byte) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.match = match
	g.arrived, g.open, g.done = make(chan struct{}), make(chan struct{}), make(chan struct{})
	g.once = sync.Once{}
}

// release lets the held request (if any, now or later) go on.
func (g *gate) release() {
	g.mu.Lock()
	open, once := g.open, &g.once
	g.mu.Unlock()
	if open != nil {
		once.Do(func() { close(open) })
	}
}

func (g *gate) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	armed := g.match != nil
	g.mu.Unlock()
	var body []byte
	if armed {
		// Read now: matching may look at it, and a held request goes on
		// whole even when its sender has died meanwhile.
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	g.mu.Lock()
	held := g.match != nil && g.match(r, body)
	var arrived, open, done chan struct{}
	if held {
		g.match = nil
		arrived, open, done = g.arrived, g.open, g.done
	}
	g.mu.Unlock()
	if !held {
		g.next.ServeHTTP(rw, r)
		return
	}
	close(arrived)
	<-open
	defer close(done)
	g.next.ServeHTTP(rw, r)
}

// waitArrived waits for the held request.
func (w *world) waitArrived(g *gate) {
	w.t.Helper()
	g.mu.Lock()
	arrived := g.arrived
	g.mu.Unlock()
	select {
	case <-arrived:
	case <-w.ctx.Done():
		w.t.Fatal("the request to hold never arrived")
	}
}

// releaseAndWait lets the held request go on and waits until it was served.
func (w *world) releaseAndWait(g *gate) {
	w.t.Helper()
	g.release()
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	select {
	case <-done:
	case <-w.ctx.Done():
		w.t.Fatal("the held request was never served")
	}
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
	return w.deviceWith(user, client.Options{})
}

func (w *world) deviceWith(user string, opts client.Options) *client.Client {
	w.t.Helper()
	opts.Path = filepath.Join(w.t.TempDir(), user+".db")
	opts.Logger = hclog.NewNullLogger()
	c, err := client.Open(w.ctx, opts)
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
	return w.rowsOf(set, user, nil)
}

// rowsOf lists the ids of the emulator's rows of set owned by user for
// which keep (nil: all) holds, sorted.
func (w *world) rowsOf(set string, user crmemu.User, keep func(row map[string]any) bool) []string {
	var ids []string
	for _, id := range w.crm.IDs(set) {
		row, ok := w.crm.Get(set, id)
		if ok && strings.EqualFold(fmt.Sprint(row["_ownerid_value"]), user.SystemUserID) && (keep == nil || keep(row)) {
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

// assertConverged checks that dev, a device of user, has nothing pending
// and no open sync error, and holds exactly the emulator's rows of user
// (accounts passing keepAccount, nil: all; and contacts), each with the
// emulator's version and values of the configured fields.
func (w *world) assertConverged(name string, dev *client.Client, user crmemu.User, keepAccount func(map[string]any) bool) {
	w.t.Helper()
	st, err := dev.Status(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if st.Pending != 0 || st.Errors != 0 {
		w.t.Errorf("%s: %d changes pending (%v), %d sync errors", name, st.Pending, st.PendingByState, st.Errors)
	}
	for _, set := range []string{"accounts", "contacts"} {
		var keep func(map[string]any) bool
		if set == "accounts" {
			keep = keepAccount
		}
		entity := entityOf[set]
		want := w.rowsOf(set, user, keep)
		got := w.localIDs(dev, entity)
		if !equalIDs(got, want) {
			w.t.Errorf("%s: %s ids %v, the CRM has %v", name, entity, got, want)
			continue
		}
		for _, id := range want {
			row, _ := w.crm.Get(set, id)
			rec := w.local(dev, entity, id)
			if rec.Version != fmt.Sprint(row["@odata.etag"]) {
				w.t.Errorf("%s: %s %s has version %s, the CRM %v", name, entity, id, rec.Version, row["@odata.etag"])
			}
			if diff := fieldDiff(set, rec.Fields, row); diff != "" {
				w.t.Errorf("%s: %s %s differs from the CRM: %s", name, entity, id, diff)
			}
		}
	}
}

// fieldDiff compares a device's fields of a record with the emulator's
// row, over the configured fields.
func fieldDiff(set string, local, row map[string]any) string {
	var diffs []string
	for _, f := range entityFields[set] {
		want, got := row[f], local[f]
		if lv, isLookup := row["_"+f+"_value"]; isLookup {
			want = lv
			if m, ok := got.(map[string]any); ok {
				got = m["id"]
			}
			if !strings.EqualFold(fmt.Sprint(got), fmt.Sprint(want)) {
				diffs = append(diffs, fmt.Sprintf("%s: device %v, CRM %v", f, got, want))
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s: device %v, CRM %v", f, got, want))
		}
	}
	return strings.Join(diffs, "; ")
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
