package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/events"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

const testPassword = "correct horse"

var (
	hashOnce sync.Once
	testHash string
)

// passwordHash is a cheap bcrypt hash of testPassword (MinCost keeps the
// race-enabled tests fast; the cost does not change the logic).
func passwordHash(t testing.TB) string {
	hashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		testHash = string(h)
	})
	return testHash
}

// testConfig has three sources. crm: account and contact partitioned by
// owner, team_doc by the "team" attribute, product for everyone. erp: item
// for everyone, order by owner. hr: payslip by owner, so only users with an
// hr identity see hr at all. alice and bob have crm identities, only alice
// has erp and hr ones; carol has none; root is the admin.
func testConfig(t testing.TB) *config.Config {
	h := passwordHash(t)
	owner := config.PartitionRule{Attr: "owner", Field: "ownerid", Raw: "owner:ownerid"}
	return &config.Config{
		Hub: config.Hub{
			AccessTokenTTL: time.Hour, RefreshTokenTTL: 24 * time.Hour, TombstoneRetention: 24 * time.Hour,
			MaxBodyBytes: 1024, CheckpointKey: strings.Repeat("k", 32),
		},
		Sources: []config.Source{
			{Name: "crm", Plugin: "test", Entities: []config.Entity{
				{Name: "account", Fields: []string{"name", "ownerid", "parent"}, Partition: owner},
				{Name: "contact", Partition: owner, ReadOnly: true},
				{Name: "team_doc", Partition: config.PartitionRule{Attr: "team", Field: "teamid", Raw: "team:teamid"}},
				{Name: "product", Partition: config.PartitionRule{All: true, Raw: "*"}, ReadOnly: true},
			}},
			{Name: "erp", Plugin: "test", Entities: []config.Entity{
				{Name: "item", Partition: config.PartitionRule{All: true, Raw: "*"}},
				{Name: "order", Partition: owner},
			}},
			{Name: "hr", Plugin: "test", Entities: []config.Entity{
				{Name: "payslip", Partition: owner, ReadOnly: true},
			}},
		},
		Users: []config.User{
			{Name: "alice", PasswordHash: h, Role: "user", Identities: map[string]config.Identity{
				"crm": {ID: "A-1", Attributes: map[string]string{"team": "Red"}},
				"erp": {ID: "a"},
				"hr":  {ID: "a"},
			}},
			{Name: "bob", PasswordHash: h, Role: "user", Identities: map[string]config.Identity{
				"crm": {ID: "B-2", Attributes: map[string]string{"team": "blue"}},
			}},
			{Name: "carol", PasswordHash: h, Role: "user", Identities: map[string]config.Identity{}},
			{Name: "root", PasswordHash: h, Role: "admin", Identities: map[string]config.Identity{}},
		},
	}
}

func testSchema() map[string]sdk.Schema {
	return map[string]sdk.Schema{
		"crm": {Entities: []sdk.EntitySchema{
			{Name: "account", Key: "accountid", Fields: []sdk.Field{
				{Name: "accountid", Type: sdk.TypeGUID, ReadOnly: true},
				{Name: "name", Type: sdk.TypeString, Required: true, MaxLength: 160},
				{Name: "ownerid", Type: sdk.TypeLookup, Lookup: "systemuser,team"},
				{Name: "parent", Type: sdk.TypeLookup, Lookup: "account"},
				{Name: "revenue", Type: sdk.TypeDecimal},
			}},
			{Name: "contact", Key: "contactid", Fields: []sdk.Field{
				{Name: "contactid", Type: sdk.TypeGUID}, {Name: "fullname", Type: sdk.TypeString},
				{Name: "ownerid", Type: sdk.TypeString},
			}},
			{Name: "team_doc", Key: "id", Fields: []sdk.Field{{Name: "id", Type: sdk.TypeString}, {Name: "teamid", Type: sdk.TypeString}}},
			{Name: "product", Key: "id", Fields: []sdk.Field{{Name: "id", Type: sdk.TypeString}, {Name: "name", Type: sdk.TypeString}}},
		}},
		"erp": {Entities: []sdk.EntitySchema{
			{Name: "item", Key: "no", Fields: []sdk.Field{{Name: "no", Type: sdk.TypeString}}},
			{Name: "order", Key: "no", Fields: []sdk.Field{{Name: "no", Type: sdk.TypeString}, {Name: "owner", Type: sdk.TypeString}}},
		}},
		"hr": {Entities: []sdk.EntitySchema{
			{Name: "payslip", Key: "id", Fields: []sdk.Field{{Name: "id", Type: sdk.TypeString}, {Name: "ownerid", Type: sdk.TypeString}}},
		}},
	}
}

// fakeSources stands in for the plugin host.
type fakeSources struct {
	mu         sync.Mutex
	schema     map[string]sdk.Schema
	states     map[string]PluginState
	restarted  []string
	restartErr error
	schemaErr  error
}

func (f *fakeSources) Names() []string { return []string{"crm", "erp", "hr"} }

func (f *fakeSources) Schema(_ context.Context, source string) (sdk.Schema, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.schemaErr != nil {
		return sdk.Schema{}, f.schemaErr
	}
	return f.schema[source], nil
}

func (f *fakeSources) State(source string) PluginState {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, ok := f.states[source]; ok {
		return st
	}
	return PluginState{State: "running"}
}

func (f *fakeSources) Restart(_ context.Context, source string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.restartErr != nil {
		return f.restartErr
	}
	f.restarted = append(f.restarted, source)
	f.states[source] = PluginState{State: "running", Restarts: f.states[source].Restarts + 1}
	return nil
}

type trigger struct {
	Source   string
	Entities []string
	Full     bool
}

// fakePuller records what the API asks of the pull stage.
type fakePuller struct {
	mu       sync.Mutex
	triggers []trigger
	fresh    []string
	freshErr error
}

func (f *fakePuller) Trigger(_ context.Context, source string, entities []string, full bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers = append(f.triggers, trigger{source, entities, full})
	return nil
}

func (f *fakePuller) EnsureFresh(_ context.Context, source string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fresh = append(f.fresh, source)
	return f.freshErr
}

// clock is an adjustable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a server on a store with the test config and users synced.
type env struct {
	t       *testing.T
	st      *store.Store
	cfg     *config.Config
	srv     *Server
	clock   *clock
	sources *fakeSources
	puller  *fakePuller
	events  *events.Hub
	reg     *prometheus.Registry
}

func newEnv(t *testing.T, st *store.Store) *env {
	t.Helper()
	e := &env{t: t, st: st, cfg: testConfig(t),
		clock:   &clock{now: time.Now().UTC().Truncate(time.Second)},
		sources: &fakeSources{schema: testSchema(), states: map[string]PluginState{}},
		puller:  &fakePuller{}, events: events.New(), reg: prometheus.NewRegistry()}
	e.srv = New(Deps{Store: st, Config: e.cfg, Sources: e.sources, Puller: e.puller, Events: e.events,
		Logger: storetest.Logger(t), Registry: e.reg, Now: e.clock.Now, Heartbeat: 50 * time.Millisecond})
	t.Cleanup(e.srv.Close)
	require.NoError(t, e.srv.SyncUsers(context.Background()))
	return e
}

// forEachDB runs fn with a fresh env on SQLite and, when configured,
// PostgreSQL.
func forEachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) { fn(t, newEnv(t, st)) })
}

// response is a finished request.
type response struct {
	*httptest.ResponseRecorder
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), v), "body: %s", r.Body.String())
}

// errorCode returns the error body's code and message.
func (r response) errorBody(t testing.TB) errorDetail {
	t.Helper()
	var b errorBody
	r.json(t, &b)
	return b.Error
}

// do serves one request. body may be nil, a string (sent as is) or a value
// (sent as JSON).
func (e *env) do(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return response{rec}
}

// login logs user in on device and returns the tokens.
func (e *env) login(user, device string) tokenResponse {
	e.t.Helper()
	r := e.do("POST", "/v1/auth/token", "", map[string]string{"username": user, "password": testPassword, "device_id": device})
	require.Equal(e.t, http.StatusOK, r.Code, r.Body.String())
	var tok tokenResponse
	r.json(e.t, &tok)
	return tok
}

// token logs user in on a device named after the user.
func (e *env) token(user string) string {
	e.t.Helper()
	return e.login(user, user+"-phone").AccessToken
}

// record is a test record; fields must hold the partition field.
type record struct {
	entity, id, version string
	fields              map[string]any
}

// put mirrors records as a pull would: partitions from the config's rule.
func (e *env) put(source string, recs ...record) {
	e.t.Helper()
	e.apply(source, recs, nil)
}

// remove deletes records of one entity from the mirror.
func (e *env) remove(source, entity string, ids ...string) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.st.EnsureEntityState(ctx, source, entity)
	require.NoError(e.t, err)
	_, err = e.st.ApplyBatch(ctx, store.Batch{Source: source, Entity: entity, Remove: ids})
	require.NoError(e.t, err)
}

func (e *env) apply(source string, recs []record, _ []string) {
	e.t.Helper()
	ctx := context.Background()
	src, ok := e.cfg.Source(source)
	require.True(e.t, ok)
	byEntity := map[string][]store.MirrorRecord{}
	var order []string
	for _, r := range recs {
		ent, ok := src.Entity(r.entity)
		require.True(e.t, ok, r.entity)
		data, err := json.Marshal(r.fields)
		require.NoError(e.t, err)
		if _, seen := byEntity[r.entity]; !seen {
			order = append(order, r.entity)
		}
		byEntity[r.entity] = append(byEntity[r.entity], store.MirrorRecord{ID: r.id, Version: r.version,
			Fields: data, Hash: fmt.Sprintf("%x", sha256.Sum256(data)), Partition: partition.Of(ent.Partition, r.entity, r.fields)})
	}
	for _, ent := range order {
		_, err := e.st.EnsureEntityState(ctx, source, ent)
		require.NoError(e.t, err)
		res, err := e.st.ApplyBatch(ctx, store.Batch{Source: source, Entity: ent, Put: byEntity[ent]})
		require.NoError(e.t, err)
		if len(res.Partitions) > 0 {
			e.events.Publish(source, res.Partitions, res.LastSeq)
		}
	}
}

// page is a decoded changes response.
type page struct {
	Reset      []string `json:"reset"`
	Ops        []opJSON `json:"ops"`
	HasMore    bool     `json:"has_more"`
	Checkpoint string   `json:"checkpoint"`
	Applied    []any    `json:"applied"`
}

// changesURL builds a changes request path.
func changesURL(source, checkpoint string, limit int) string {
	u := "/v1/sources/" + source + "/changes?"
	if checkpoint != "" {
		u += "checkpoint=" + url.QueryEscape(checkpoint) + "&"
	}
	if limit > 0 {
		u += fmt.Sprintf("limit=%d", limit)
	}
	return u
}

// fetch downloads one page.
func (e *env) fetch(token, source, checkpoint string, limit int) page {
	e.t.Helper()
	r := e.do("GET", changesURL(source, checkpoint, limit), token, nil)
	require.Equal(e.t, http.StatusOK, r.Code, r.Body.String())
	var p page
	r.json(e.t, &p)
	return p
}

// syncAll pages from checkpoint until has_more is false and returns every
// op and the final checkpoint.
func (e *env) syncAll(token, source, checkpoint string, limit int) ([]opJSON, string, []string) {
	e.t.Helper()
	var ops []opJSON
	var resets []string
	for range 1000 {
		p := e.fetch(token, source, checkpoint, limit)
		ops = append(ops, p.Ops...)
		resets = append(resets, p.Reset...)
		require.LessOrEqual(e.t, len(p.Ops), limit)
		checkpoint = p.Checkpoint
		if !p.HasMore {
			return ops, checkpoint, resets
		}
	}
	e.t.Fatal("changes never reached has_more=false")
	return nil, "", nil
}

var errBoom = errors.New("boom")

// doReader serves a request whose body has no known length (chunked).
func (e *env) doReader(method, path string, body io.Reader) response {
	e.t.Helper()
	req := httptest.NewRequest(method, path, struct{ io.Reader }{body})
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return response{rec}
}
