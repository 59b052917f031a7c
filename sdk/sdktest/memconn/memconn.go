// Package memconn is an in-memory back end with a connector that implements
// every capability of the plugin protocol. It is the partner guide's worked
// example and the hub's own test connector: plugins/memconn serves it as a
// plugin, and tests drive it in process.
//
// The back end is a handful of entities declared as data (DefaultEntities:
// user, account, contact), a global version counter that every write bumps,
// and a change log of (version, entity, id, op). Cursors are versions:
//
//   - an incremental cursor is the last version the pass saw;
//   - a full pass sends "full:<v>:<last id>" on its pages, so an interrupted
//     pass resumes after the last id it served, and ends with "<v>", the
//     version taken before the pass started (DESIGN §7: a change made while
//     the pass runs is fetched again, never skipped).
//
// account reports deletions inline in incremental pages, contact through the
// DeleteTracker feed, and user (read-only) not at all: the host reconciles it
// with ListIDs. Upload is idempotent per mutation id, takes client-supplied
// ids as keys, checks base versions and lookups, and is all-or-nothing when
// asked. Test hooks edit the data "on the server" (Put, Delete) and read it
// (Get, Count); SetFault makes calls fail on purpose.
//
// The package must not know about the hub: it speaks only the sdk types.
package memconn

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/synchub/synchub/sdk"
)

// ServiceIdentity is the identity id Check reports: memconn's service account.
const ServiceIdentity = "memconn-service"

// defaultPageSize is the page size when the host asks for none.
const defaultPageSize = 100

// Entity declares one entity of the back end: its schema and its seed data.
type Entity struct {
	Schema sdk.EntitySchema
	// Seed returns the records the back end starts with for seed n, each
	// holding its id under the schema's key. Entities are seeded in order,
	// so a lookup target comes before the entities that point to it.
	Seed func(n int) []map[string]any
}

// Connector is the back end and its connector in one value. It is safe for
// concurrent use.
type Connector struct {
	entities []Entity
	byName   map[string]*Entity
	clock    func() time.Time

	mu      sync.Mutex
	st      *store
	pageCap int
	faults  []Fault
}

// Compile-time proof that memconn implements every capability.
var (
	_ sdk.Fetcher       = (*Connector)(nil)
	_ sdk.DeleteTracker = (*Connector)(nil)
	_ sdk.IDLister      = (*Connector)(nil)
	_ sdk.Uploader      = (*Connector)(nil)
	_ sdk.FileLister    = (*Connector)(nil)
	_ sdk.FileReader    = (*Connector)(nil)
	_ sdk.FileWriter    = (*Connector)(nil)
	_ sdk.UserResolver  = (*Connector)(nil)
)

// Option configures New.
type Option func(*options)

type options struct {
	seed     int
	entities []Entity
	clock    func() time.Time
}

// WithSeed starts the back end with n seeded records per entity (3 users
// when n > 0); 0 starts it empty. The default is 10.
func WithSeed(n int) Option { return func(o *options) { o.seed = n } }

// WithEntities replaces DefaultEntities.
func WithEntities(es ...Entity) Option { return func(o *options) { o.entities = es } }

// WithClock sets the clock that stamps modified times (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// New returns a back end seeded with 10 accounts, 10 contacts and 3 users,
// unless options say otherwise.
func New(opts ...Option) *Connector {
	o := options{seed: 10, entities: DefaultEntities(), clock: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	m := &Connector{entities: o.entities, byName: map[string]*Entity{}, clock: o.clock}
	for i := range m.entities {
		m.byName[m.entities[i].Schema.Name] = &m.entities[i]
	}
	m.st = m.seed(o.seed)
	return m
}

// seed builds a fresh store holding every entity's seed records.
func (m *Connector) seed(n int) *store {
	st := newStore()
	now := m.clock().UTC()
	for _, e := range m.entities {
		if e.Seed == nil {
			continue
		}
		for _, f := range e.Seed(n) {
			id := fmt.Sprint(f[e.Schema.Key])
			st.write(e.Schema, id, mustJSON(f), now)
		}
	}
	return st
}

// Describe names the connector and documents its config.
func (m *Connector) Describe() sdk.Description {
	return sdk.Description{
		Name: "memconn", Version: "1.0.0", MaxBatchSize: 100, AtomicBatches: true,
		ConfigSchema: []sdk.ConfigField{
			{Name: "seed", Type: "number", Doc: "replace all data with this many seeded records per entity"},
			{Name: "page_size_cap", Type: "number", Doc: "the most records a page holds, whatever the host asks (0: no cap)"},
			{Name: "fail", Type: "list", Doc: "faults to inject: [{call, kind, times, after_pages, retry_after_ms}]"},
		},
	}
}

type config struct {
	Seed        *int    `json:"seed"`
	PageSizeCap int     `json:"page_size_cap"`
	Fail        []Fault `json:"fail"`
}

// Configure reads {"seed": N, "page_size_cap": M, "fail": [...]}. A seed
// replaces all data; without one the data stays as it is. page_size_cap and
// fail replace the cap and the faults (none when absent, even ones SetFault
// set).
func (m *Connector) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var c config
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return err
	}
	if c.Seed != nil && *c.Seed < 0 {
		return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: "seed", Summary: "seed must not be negative"}
	}
	if c.PageSizeCap < 0 {
		return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: "page_size_cap", Summary: "page_size_cap must not be negative"}
	}
	for _, f := range c.Fail {
		if err := f.validate(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Seed != nil {
		m.st = m.seed(*c.Seed)
	}
	m.pageCap, m.faults = c.PageSizeCap, c.Fail
	return nil
}

// Check answers with memconn's service account.
func (m *Connector) Check(context.Context) (sdk.CheckResult, error) {
	if _, err := m.trip("check", 0); err != nil {
		return sdk.CheckResult{}, err
	}
	return sdk.CheckResult{Identity: sdk.Identity{ID: ServiceIdentity, Name: "memconn service account"}}, nil
}

// Schema describes the requested entities, or all of them when none are named.
func (m *Connector) Schema(_ context.Context, req sdk.SchemaRequest) (sdk.Schema, error) {
	var s sdk.Schema
	if len(req.Entities) == 0 {
		for _, e := range m.entities {
			s.Entities = append(s.Entities, e.Schema)
		}
		return s, nil
	}
	for _, name := range req.Entities {
		e, err := m.entity(name)
		if err != nil {
			return sdk.Schema{}, err
		}
		s.Entities = append(s.Entities, e.Schema)
	}
	return s, nil
}

func (m *Connector) entity(name string) (*Entity, error) {
	if e, ok := m.byName[name]; ok {
		return e, nil
	}
	return nil, &sdk.Error{Code: sdk.CodeUnknownEntity, Entity: name, Summary: "memconn has no such entity"}
}

// pageSize is the host's page size, capped by page_size_cap.
func (m *Connector) pageSize(asked int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := asked
	if n <= 0 {
		n = defaultPageSize
	}
	if m.pageCap > 0 && n > m.pageCap {
		n = m.pageCap
	}
	return n
}

// Put writes a record as a back-end user would: it creates the record when
// fields hold no id under the entity's key (or an id that does not exist)
// and merges fields into it otherwise. Either way the version bumps. Lookups
// are not checked. Put panics on an unknown entity or fields that are not
// JSON values: it is a test hook.
func (m *Connector) Put(entity string, fields map[string]any) sdk.Record {
	e, err := m.entity(entity)
	if err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id, _ := fields[e.Schema.Key].(string)
	if id == "" {
		id = newID()
	}
	merged := map[string]any{}
	if old, ok := m.st.table(entity).rows[id]; ok {
		maps.Copy(merged, old.fields)
	}
	maps.Copy(merged, mustJSON(fields))
	return m.st.write(e.Schema, id, merged, m.clock().UTC()).record(id, nil)
}

// Delete deletes a record on the server side and reports whether it existed.
func (m *Connector) Delete(entity, id string) bool {
	e, err := m.entity(entity)
	if err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.st.table(entity).rows[id]; !ok {
		return false
	}
	m.st.remove(e.Schema, id)
	return true
}

// Get returns a record as the back end holds it.
func (m *Connector) Get(entity, id string) (sdk.Record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.st.table(entity).rows[id]
	if !ok {
		return sdk.Record{}, false
	}
	return r.record(id, nil), true
}

// Count returns how many records an entity has.
func (m *Connector) Count(entity string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.st.table(entity).ids)
}
