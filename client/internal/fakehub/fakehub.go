// Package fakehub is an in-memory hub speaking the device REST API
// (auth with rotating refresh tokens, sources, schema, changes with
// per-partition signed-looking checkpoints, paging, reset and applied,
// mutations, sync errors, file content with Range/ETag, file upload, SSE
// events) for the client's tests and the CLI's. It follows
// host/api/openapi.yaml and DESIGN.md §4–§6; it must not import the hub:
// the client's tests prove the client against the wire, not the code.
package fakehub

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Field and Entity are the schema's JSON shapes.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Lookup   string `json:"lookup,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Entity is one entity of a source's schema.
type Entity struct {
	Name     string  `json:"name"`
	Key      string  `json:"key"`
	ReadOnly bool    `json:"read_only"`
	Hash     string  `json:"hash"`
	Fields   []Field `json:"fields"`
}

// Mutation is a device mutation as received.
type Mutation struct {
	MutationID  string         `json:"mutation_id"`
	Entity      string         `json:"entity"`
	Op          string         `json:"op"`
	ID          string         `json:"id"`
	BaseVersion string         `json:"base_version"`
	Fields      map[string]any `json:"fields"`
	ClientTime  time.Time      `json:"client_time"`
	Group       string         `json:"group,omitempty"`
}

// Upload is a file a device uploaded.
type Upload struct {
	Source, Entity, ID, Name, ContentType string
	Content                               []byte
}

type item struct {
	seq       int64
	partition string
	entity    string
	id        string
	removed   bool
	version   string
	modified  time.Time
	fields    map[string]any
}

type file struct {
	content []byte
	etag    string
}

type source struct {
	entities []Entity
	seq      int64
	items    map[string]*item // entity/id
	floors   map[string]int64 // partition -> tombstone floor
}

// Hub is the fake. Its exported fields may be changed between calls
// under Lock/Unlock, or through its methods.
type Hub struct {
	URL string
	srv *httptest.Server
	t   testing.TB

	mu        sync.Mutex
	users     map[string]string
	access    map[string]string // token -> device
	refresh   map[string]string // token -> device
	tokenN    int
	sources   map[string]*source
	order     []string
	files     map[string]*file
	mutations map[string]Mutation // by id: dedupe
	mutDevice map[string]string   // mutation id -> device
	serverID  map[string]string   // client id -> back-end id of created records
	unapplied []string            // accepted, not applied (ApplyMutations false)
	applied   map[string][]map[string]string
	errors    map[string][]map[string]any // per source
	uploads   []Upload
	calls     []string
	changesN  int
	cut       map[string]int // file id -> bytes to send before cutting, once
	ranges    map[string][]string
	subs      map[chan int64]string
	idN       int

	// ApplyMutations applies accepted mutations at once (default true).
	ApplyMutations bool
	// ServerIDs makes the back end key created records itself ("srv-N").
	ServerIDs bool
	// HoldApplied delays the applied reports until a changes call made
	// after it is cleared.
	HoldApplied bool
	// FailChanges makes the changes call with this number (1-based, since
	// the hub started) answer 500.
	FailChanges int
	// OnChanges, when set, is called as a changes request arrives, with
	// its number (1-based), before the hub answers it.
	OnChanges      func(n int)
	changesArrived int
	// TokenTTL is the access token's expires_in (default 3600).
	TokenTTL int64
	// Partition gives a created record's partition (default "<entity>/*").
	Partition func(entity string, fields map[string]any) string
}

// New starts a hub; it stops when the test ends.
func New(t testing.TB) *Hub {
	h := &Hub{t: t, users: map[string]string{}, access: map[string]string{}, refresh: map[string]string{},
		sources: map[string]*source{}, files: map[string]*file{}, mutations: map[string]Mutation{}, mutDevice: map[string]string{}, serverID: map[string]string{},
		applied: map[string][]map[string]string{}, errors: map[string][]map[string]any{}, cut: map[string]int{}, ranges: map[string][]string{},
		subs: map[chan int64]string{}, ApplyMutations: true, TokenTTL: 3600}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	h.URL = h.srv.URL
	t.Cleanup(h.Close)
	return h
}

// Close stops the server (idempotent).
func (h *Hub) Close() {
	h.mu.Lock()
	for ch := range h.subs {
		close(ch)
		delete(h.subs, ch)
	}
	h.mu.Unlock()
	h.srv.CloseClientConnections()
	h.srv.Close()
}

// Lock and Unlock guard the exported fields.
func (h *Hub) Lock()   { h.mu.Lock() }
func (h *Hub) Unlock() { h.mu.Unlock() }

// AddUser adds a user.
func (h *Hub) AddUser(name, password string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[name] = password
}

// SetSchema sets a source's entities (adding the source).
func (h *Hub) SetSchema(src string, entities ...Entity) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.source(src)
	s.entities = entities
}

func (h *Hub) source(src string) *source {
	s := h.sources[src]
	if s == nil {
		s = &source{items: map[string]*item{}, floors: map[string]int64{}}
		h.sources[src] = s
		h.order = append(h.order, src)
	}
	return s
}

// Put writes a record into the mirror with a new seq and version.
func (h *Hub) Put(src, entity, id, partition string, fields map[string]any) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.put(src, entity, id, partition, fields)
}

func (h *Hub) put(src, entity, id, partition string, fields map[string]any) string {
	s := h.source(src)
	s.seq++
	if partition == "" {
		partition = entity + "/*"
	}
	it := &item{seq: s.seq, partition: partition, entity: entity, id: id, version: fmt.Sprintf("v%d", s.seq),
		modified: time.Date(2025, 1, 1, 0, 0, int(s.seq), 0, time.UTC), fields: maps.Clone(fields)}
	old := s.items[entity+"/"+id]
	if old != nil && !old.removed && old.partition != partition {
		// Moved: a REMOVE in the old partition (kept as its own item).
		s.seq++
		s.items["moved:"+old.partition+"/"+entity+"/"+id] = &item{seq: s.seq, partition: old.partition, entity: entity, id: id, removed: true}
	}
	s.items[entity+"/"+id] = it
	h.notify(src, s.seq)
	return it.version
}

// Remove deletes a record from the mirror (a tombstone).
func (h *Hub) Remove(src, entity, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(src, entity, id)
}

func (h *Hub) remove(src, entity, id string) {
	s := h.source(src)
	old := s.items[entity+"/"+id]
	if old == nil || old.removed {
		return
	}
	s.seq++
	s.items[entity+"/"+id] = &item{seq: s.seq, partition: old.partition, entity: entity, id: id, removed: true}
	h.notify(src, s.seq)
}

// ExpireTombstones drops a partition's tombstones: devices behind them
// get the partition reset.
func (h *Hub) ExpireTombstones(src, partition string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.source(src)
	for k, it := range s.items {
		if it.partition == partition && it.removed {
			delete(s.items, k)
			s.floors[partition] = max(s.floors[partition], it.seq)
		}
	}
}

// Record returns the mirror's record.
func (h *Hub) Record(src, entity, id string) (fields map[string]any, version string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	it := h.source(src).items[entity+"/"+id]
	if it == nil || it.removed {
		return nil, "", false
	}
	return maps.Clone(it.fields), it.version, true
}

// Records lists the ids of an entity's live records, sorted.
func (h *Hub) Records(src, entity string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, it := range h.source(src).items {
		if it.entity == entity && !it.removed {
			out = append(out, it.id)
		}
	}
	slices.Sort(out)
	return out
}

// PutFile adds a file: its metadata rides the feed as entity _file, its
// content is served by /v1/files/{id}/content.
func (h *Hub) PutFile(src, id, partition string, meta map[string]any, content []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sum := sha256.Sum256(content)
	m := maps.Clone(meta)
	if _, ok := m["hash"]; !ok {
		m["hash"] = hex.EncodeToString(sum[:])
	}
	if _, ok := m["size"]; !ok {
		m["size"] = len(content)
	}
	h.files[id] = &file{content: content, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	h.put(src, "_file", id, partition, m)
}

// CutFile makes the next content download of id stop after n bytes.
func (h *Hub) CutFile(id string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cut[id] = n
}

// Ranges returns the Range header of every content request of a file
// ("" for a whole-file request).
func (h *Hub) Ranges(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ranges[id])
}

// AddSyncError adds a sync error for a mutation.
func (h *Hub) AddSyncError(src string, e map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errors[src] = append(h.errors[src], e)
}

// ExpireAccessTokens invalidates every access token (refresh tokens stay).
func (h *Hub) ExpireAccessTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.access)
}

// RevokeAll invalidates every token.
func (h *Hub) RevokeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.access)
	clear(h.refresh)
}

// Calls returns "METHOD path?query" of every request so far.
func (h *Hub) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// Mutations returns the mutations the hub stored, by id.
func (h *Hub) Mutations() map[string]Mutation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.mutations)
}

// Uploads returns the files devices uploaded.
func (h *Hub) Uploads() []Upload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.uploads)
}

// ApplyPending applies the accepted mutations not applied yet.
func (h *Hub) ApplyPending() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range h.unapplied {
		h.apply(h.mutations[id], h.mutDevice[id])
	}
	h.unapplied = nil
}

// Notify announces changes on the source's event streams.
func (h *Hub) Notify(src string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notify(src, h.source(src).seq)
}

func (h *Hub) notify(src string, seq int64) {
	for ch, s := range h.subs {
		if s == src {
			select {
			case ch <- seq:
			default:
			}
		}
	}
}
