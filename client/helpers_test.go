package client

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/client/internal/fakehub"
)

// crmSchema is the test source: accounts, and contacts that look up their
// account.
func crmSchema(hash string) []fakehub.Entity {
	return []fakehub.Entity{
		{Name: "account", Key: "accountid", Hash: "acc-" + hash, Fields: []fakehub.Field{
			{Name: "name", Type: "string"},
			{Name: "revenue", Type: "decimal"},
			{Name: "employees", Type: "int"},
			{Name: "active", Type: "bool"},
			{Name: "founded", Type: "datetime"},
			{Name: "createdon", Type: "datetime", ReadOnly: true},
		}},
		{Name: "contact", Key: "contactid", Hash: "con-" + hash, Fields: []fakehub.Field{
			{Name: "fullname", Type: "string"},
			{Name: "parentcustomerid", Type: "lookup", Lookup: "account"},
		}},
		{Name: "country", Key: "code", ReadOnly: true, Hash: "cty-" + hash, Fields: []fakehub.Field{
			{Name: "name", Type: "string"},
		}},
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

type env struct {
	t     testing.TB
	hub   *fakehub.Hub
	c     *Client
	path  string
	clock *fakeClock
	ctx   context.Context
}

// newEnv starts a fake hub with the crm source and user alice, and opens
// a client logged in as alice.
func newEnv(t testing.TB) *env {
	t.Helper()
	hub := fakehub.New(t)
	hub.AddUser("alice", "alice")
	hub.SetSchema("crm", crmSchema("1")...)
	e := &env{t: t, hub: hub, path: filepath.Join(t.TempDir(), "device.db"),
		clock: &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	e.ctx = ctx
	e.c = e.open(Options{})
	require.NoError(t, e.c.Login(ctx, hub.URL, "alice", "alice"))
	return e
}

func (e *env) open(o Options) *Client {
	e.t.Helper()
	o.Path = e.path
	o.Now = e.clock.Now
	o.Logger = hclog.NewNullLogger()
	if testing.Verbose() {
		o.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr})
	}
	o.EventRetry = 10 * time.Millisecond
	o.AutoSyncDebounce = 10 * time.Millisecond
	c, err := Open(e.ctx, o)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

// reopen closes the client and opens the same store again.
func (e *env) reopen() {
	e.t.Helper()
	require.NoError(e.t, e.c.Close())
	e.c = e.open(Options{})
}

func (e *env) sync() SyncReport {
	e.t.Helper()
	rep, err := e.c.Sync(e.ctx, SyncOptions{})
	require.NoError(e.t, err)
	return rep
}

func (e *env) get(entity, id string) (Record, bool) {
	e.t.Helper()
	r, err := e.c.Get(e.ctx, "crm", entity, id)
	if isNotFound(err) {
		return Record{}, false
	}
	require.NoError(e.t, err)
	return r, true
}

func (e *env) changes() []Change {
	e.t.Helper()
	ch, err := e.c.Changes(e.ctx, "")
	require.NoError(e.t, err)
	return ch
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func nullLog() hclog.Logger { return hclog.NewNullLogger() }
