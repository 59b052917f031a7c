package pull_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

// env is a hub with one source "crm" served by memconn (10 accounts with
// inline deletes, 10 contacts with a delete feed, 3 users reconciled by
// ids), partitioned by owner (users: everyone).
type env struct {
	t      *testing.T
	st     *store.Store
	conn   *memconn.Connector
	client *wrapClient
	cfg    *config.Config
	p      *pull.Puller
}

func ownerRule() config.PartitionRule {
	return config.PartitionRule{Attr: "owner", Field: "owner", Raw: "owner:owner"}
}

func newConfig() *config.Config {
	return &config.Config{
		Hub: config.Hub{PullConcurrency: 3},
		Sources: []config.Source{{Name: "crm", Plugin: "memconn", Entities: []config.Entity{
			{Name: "user", PageSize: 2, Partition: config.PartitionRule{All: true, Raw: "*"}},
			{Name: "account", PageSize: 3, Partition: ownerRule()},
			{Name: "contact", PageSize: 3, Partition: ownerRule()},
		}}},
	}
}

func newEnv(t *testing.T, s *store.Store, edit ...func(*config.Config, *pull.Options)) *env {
	t.Helper()
	e := &env{t: t, st: s, conn: memconn.New(), cfg: newConfig()}
	e.client = &wrapClient{Client: sdk.InProcess(e.conn, nil)}
	opts := pull.Options{Store: s, Config: e.cfg, Logger: storetest.Logger(t),
		Client: func(source string) (sdk.Client, error) {
			if source != "crm" {
				return nil, fmt.Errorf("no source %q", source)
			}
			return e.client, nil
		}}
	for _, f := range edit {
		f(e.cfg, &opts)
	}
	e.p = pull.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, e.p.Stop(ctx))
	})
	return e
}

func (e *env) entity(name string) *config.Entity {
	ent, ok := e.cfg.Sources[0].Entity(name)
	require.True(e.t, ok, name)
	return ent
}

func (e *env) pull(entity string, full bool) pull.Result {
	e.t.Helper()
	res, err := e.p.PullEntity(ctxT(e.t), "crm", entity, full)
	require.NoError(e.t, err)
	return res
}

func (e *env) seq() int64 {
	e.t.Helper()
	seq, err := e.st.SourceSeq(ctxT(e.t), "crm")
	require.NoError(e.t, err)
	return seq
}

func (e *env) state(entity string) store.EntityState {
	e.t.Helper()
	st, err := e.st.EntityState(ctxT(e.t), "crm", entity)
	require.NoError(e.t, err)
	return st
}

// partitions returns what user (an owner id; "" for none) subscribes to.
func (e *env) partitions(user string) []string {
	var id *config.Identity
	if user != "" {
		id = &config.Identity{ID: user}
	}
	return partition.ForUser(&e.cfg.Sources[0], id)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// device is a device's view of the mirror: its checkpoint and its copy.
type device struct {
	since map[string]int64
	have  map[string]json.RawMessage // "entity/id" -> fields
}

func newDevice(partitions []string) *device {
	d := &device{since: map[string]int64{}, have: map[string]json.RawMessage{}}
	for _, p := range partitions {
		d.since[p] = 0
	}
	return d
}

// sync downloads until has_more is false, limit ops at a time, and returns
// the ops as "put|remove entity/id".
func (d *device) sync(t *testing.T, s *store.Store, limit int) []string {
	t.Helper()
	var ops []string
	for {
		_, more, err := s.Changes(ctxT(t), "crm", d.since, limit, func(op store.ChangeOp) error {
			key := op.Entity + "/" + op.ID
			if op.Removed {
				delete(d.have, key)
				ops = append(ops, "remove "+key)
			} else {
				d.have[key] = op.Fields
				ops = append(ops, "put "+key)
			}
			d.since[op.Partition] = op.Seq
			return nil
		})
		require.NoError(t, err)
		if !more {
			return ops
		}
	}
}

// mirror queries the records of the given partitions directly.
func mirror(t *testing.T, s *store.Store, partitions []string) map[string]json.RawMessage {
	t.Helper()
	var rows []store.Record
	require.NoError(t, s.DB().Where(`source = ? AND "partition" IN ?`, "crm", partitions).Find(&rows).Error)
	out := map[string]json.RawMessage{}
	for _, r := range rows {
		out[r.Entity+"/"+r.ID] = r.Fields
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// wrapClient wraps a client to watch and steer calls.
type wrapClient struct {
	sdk.Client
	mu sync.Mutex
	// fetches records every Fetch request.
	fetches []sdk.FetchRequest
	// schema, when set, edits Schema answers.
	schema func(sdk.Schema) sdk.Schema
	// beforeFetch, when set, runs at the start of each Fetch.
	beforeFetch func(req sdk.FetchRequest)
	// beforePage, when set, runs before the n-th page (1-based) of a Fetch
	// reaches the puller.
	beforePage func(req sdk.FetchRequest, n int)
}

func (w *wrapClient) Schema(ctx context.Context, req sdk.SchemaRequest) (sdk.Schema, error) {
	s, err := w.Client.Schema(ctx, req)
	w.mu.Lock()
	edit := w.schema
	w.mu.Unlock()
	if err == nil && edit != nil {
		s = edit(s)
	}
	return s, err
}

func (w *wrapClient) Fetch(ctx context.Context, req sdk.FetchRequest, recv func(sdk.Page) error) error {
	w.mu.Lock()
	w.fetches = append(w.fetches, req)
	before, page := w.beforeFetch, w.beforePage
	w.mu.Unlock()
	if before != nil {
		before(req)
	}
	n := 0
	return w.Client.Fetch(ctx, req, func(pg sdk.Page) error {
		n++
		if page != nil {
			page(req, n)
		}
		return recv(pg)
	})
}

func (w *wrapClient) lastFetch() sdk.FetchRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fetches[len(w.fetches)-1]
}

// itemStats checks the partition items of the source: how many there are,
// and that no two share a seq.
func itemStats(t *testing.T, s *store.Store) (items int, maxSeq int64) {
	t.Helper()
	var rows []store.PartitionItem
	require.NoError(t, s.DB().Where("source = ?", "crm").Find(&rows).Error)
	seen := map[int64]bool{}
	for _, r := range rows {
		require.False(t, seen[r.Seq], "seq %d used twice", r.Seq)
		seen[r.Seq] = true
		maxSeq = max(maxSeq, r.Seq)
	}
	return len(rows), maxSeq
}
