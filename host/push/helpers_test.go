package push

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

// env is a hub with one source served by memconn in process: 3 users
// (read-only, everyone sees them), accounts and contacts partitioned by
// owner; contacts have accounts as parents.
type env struct {
	t      testing.TB
	source string
	st     *store.Store
	conn   *memconn.Connector
	client *hookClient
	cfg    *config.Config
	p      *Pusher
	opts   Options
	clock  *clock
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func ownerRule() config.PartitionRule {
	return config.PartitionRule{Attr: "owner", Field: "owner", Raw: "owner:owner"}
}

func newConfig(source string) *config.Config {
	return &config.Config{Sources: []config.Source{{Name: source, Plugin: "memconn", BatchSize: 100, Entities: []config.Entity{
		{Name: "user", PageSize: 100, Partition: config.PartitionRule{All: true, Raw: "*"}, Conflict: policyServerWins, TieBreak: policyServerWins},
		{Name: "account", PageSize: 100, Partition: ownerRule(), Conflict: policyServerWins, TieBreak: policyServerWins},
		{Name: "contact", PageSize: 100, Partition: ownerRule(), Parents: []string{"account"}, Conflict: policyServerWins, TieBreak: policyServerWins},
	}}}}
}

// envOpt edits the env before the Options are made (pre) or the Options
// (post).
type envOpt struct{ pre, post func(*env) }

// withConfig edits the config before the pusher is made.
func withConfig(f func(*config.Source)) envOpt {
	return envOpt{pre: func(e *env) { f(&e.cfg.Sources[0]) }}
}

func withOptions(f func(*Options)) envOpt { return envOpt{post: func(e *env) { f(&e.opts) }} }

func withConn(c *memconn.Connector) envOpt { return envOpt{pre: func(e *env) { e.conn = c }} }

func withSource(name string) envOpt {
	return envOpt{pre: func(e *env) { e.source = name; e.cfg = newConfig(name) }}
}

func newEnv(t testing.TB, s *store.Store, opts ...envOpt) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	e := &env{t: t, source: "crm", st: s, cfg: newConfig("crm"), clock: c}
	for _, o := range opts {
		if o.pre != nil {
			o.pre(e)
		}
	}
	if e.conn == nil {
		e.conn = memconn.New(memconn.WithClock(c.now))
	}
	e.client = &hookClient{Client: sdk.InProcess(e.conn, nil)}
	e.opts = Options{Store: s, Config: e.cfg, Logger: storetest.Logger(t), Now: c.now, MaxAttempts: 4,
		Backoff: func(int) time.Duration { return time.Minute },
		Client: func(source string) (sdk.Client, error) {
			if source != e.source {
				return nil, fmt.Errorf("no source %q", source)
			}
			return e.client, nil
		}}
	for _, o := range opts {
		if o.post != nil {
			o.post(e)
		}
	}
	e.opts.Config = e.cfg
	p, err := New(e.opts)
	require.NoError(t, err)
	e.p = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, p.Stop(ctx))
	})
	return e
}

// restart makes a new Pusher on the same store and back end, as a hub
// restarted after a crash would.
func (e *env) restart() {
	e.t.Helper()
	p, err := New(e.opts)
	require.NoError(e.t, err)
	e.p = p
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// pull mirrors the back end in full, as the pull stage does.
func (e *env) pull() {
	e.t.Helper()
	pl := pull.New(pull.Options{Store: e.st, Config: e.cfg, Logger: storetest.Logger(e.t),
		Client: func(string) (sdk.Client, error) { return e.client, nil }})
	require.NoError(e.t, pl.PullSource(ctxT(e.t), e.source, nil, false))
}

// caller is user u<n> with device n.
func (e *env) caller(n int) AcceptRequest {
	id := &config.Identity{ID: fmt.Sprintf("u%d", n)}
	return AcceptRequest{Caller: Caller{Source: e.source, UserID: int64(n), DeviceID: int64(n),
		Partitions: partition.ForUser(&e.cfg.Sources[0], id), Identity: id}}
}

func (e *env) accept(n int, ms ...Mutation) AcceptResult {
	e.t.Helper()
	req := e.caller(n)
	req.Mutations = ms
	res, err := e.p.Accept(ctxT(e.t), req)
	require.NoError(e.t, err)
	return res
}

// acceptOK accepts mutations that must all be accepted.
func (e *env) acceptOK(n int, ms ...Mutation) {
	e.t.Helper()
	res := e.accept(n, ms...)
	require.Empty(e.t, res.Rejected, "rejected")
	require.Len(e.t, res.Accepted, len(ms))
}

func (e *env) push() Result {
	e.t.Helper()
	res, err := e.p.PushSource(ctxT(e.t), e.source)
	require.NoError(e.t, err)
	return res
}

// mutation returns a stored mutation of device n.
func (e *env) mutation(n int, mid string) store.PushMutation {
	e.t.Helper()
	ms, err := e.st.DeviceMutations(ctxT(e.t), int64(n), []string{mid})
	require.NoError(e.t, err)
	m, ok := ms[mid]
	require.True(e.t, ok, "mutation %s stored", mid)
	return m
}

func (e *env) status(n int, mid string) string { return e.mutation(n, mid).Status }

// assertApplied checks that device 1's mutations ms are applied.
func (e *env) assertApplied(t testing.TB, ms ...Mutation) {
	t.Helper()
	for _, m := range ms {
		assert.Equal(t, store.MutationApplied, e.status(1, m.MutationID), m.ID)
	}
}

// record returns the mirror's record.
func (e *env) record(entity, id string) (map[string]any, string, bool) {
	e.t.Helper()
	recs, err := e.st.MirrorRecords(ctxT(e.t), e.source, entity, []string{id})
	require.NoError(e.t, err)
	r, ok := recs[id]
	if !ok {
		return nil, "", false
	}
	var f map[string]any
	require.NoError(e.t, json.Unmarshal(r.Fields, &f))
	return f, r.Version, true
}

// backend returns the back end's record.
func (e *env) backend(entity, id string) (map[string]any, bool) {
	r, ok := e.conn.Get(entity, id)
	return r.Fields, ok
}

// ops returns the frozen ops of the source.
func (e *env) ops() []store.PushOp {
	var ops []store.PushOp
	require.NoError(e.t, e.st.PushTx(ctxT(e.t), func(tx *store.PushTx) error {
		var err error
		ops, err = tx.Ops(e.source, nil)
		return err
	}))
	return ops
}

func mid() string { return uuid.NewString() }

func fieldsJSON(f map[string]any) json.RawMessage {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	return b
}

func create(entity, id string, f map[string]any) Mutation {
	return Mutation{MutationID: mid(), Entity: entity, Op: "create", ID: id, Fields: fieldsJSON(f)}
}

func update(entity, id, base string, f map[string]any) Mutation {
	return Mutation{MutationID: mid(), Entity: entity, Op: "update", ID: id, BaseVersion: base, Fields: fieldsJSON(f)}
}

func del(entity, id, base string) Mutation {
	return Mutation{MutationID: mid(), Entity: entity, Op: "delete", ID: id, BaseVersion: base}
}

func ref(entity, id string) map[string]any { return map[string]any{"entity": entity, "id": id} }

// hookClient wraps a client to count and steer Upload calls.
type hookClient struct {
	sdk.Client
	mu      sync.Mutex
	uploads []sdk.UploadRequest
	raw     []sdk.UploadRequest // as the hub sent them
	// upload, when set, answers Upload instead of the wrapped client; it
	// gets the wrapped client to call on.
	upload func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error)
	// describe edits Describe answers.
	describe func(sdk.Description) sdk.Description
}

func (h *hookClient) Upload(ctx context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	// The hooks and the recorded calls see the ops as a connector would:
	// the fields the hub sends as JSON (Op.Raw) decoded.
	raw := req
	req.Ops = make([]sdk.Op, len(raw.Ops))
	for i, op := range raw.Ops {
		if op.Fields == nil && len(op.Raw) > 0 {
			f, err := decodeFields(op.Raw)
			if err != nil {
				return sdk.UploadResponse{}, fmt.Errorf("mutation %s: fields JSON: %w", op.MutationID, err)
			}
			op.Fields, op.Raw = f, nil
		}
		req.Ops[i] = op
	}
	h.mu.Lock()
	h.raw = append(h.raw, raw)
	h.uploads = append(h.uploads, req)
	f := h.upload
	h.mu.Unlock()
	if f != nil {
		return f(ctx, h.Client, req)
	}
	return h.Client.Upload(ctx, req)
}

func (h *hookClient) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := h.Client.Describe(ctx)
	h.mu.Lock()
	f := h.describe
	h.mu.Unlock()
	if err == nil && f != nil {
		d = f(d)
	}
	return d, err
}

func (h *hookClient) calls() []sdk.UploadRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.UploadRequest(nil), h.uploads...)
}
