package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/sdk"
)

// view is what one caller sees of one source.
type view struct {
	src *config.Source
	// partitions is the caller's subscription, in entity order.
	partitions []string
	// entities are those of the partitions, in config order.
	entities []*config.Entity
	// identity is the caller's on the source (nil: none).
	identity *config.Identity
}

// viewOf computes the caller's partitions of the source named name. ok is
// false when the source is not configured or the caller has no partition
// in it: both answer 404, so other users' sources are never confirmed.
func (s *Server) viewOf(c *gin.Context, name string) (v view, ok bool, err error) {
	src, found := s.cfg.Source(name)
	if !found {
		return view{}, false, nil
	}
	who := callerOf(c)
	row, has, err := s.st.Identity(c.Request.Context(), who.user.ID, name)
	if err != nil {
		return view{}, false, err
	}
	var id *config.Identity
	if has {
		id = &config.Identity{ID: row.BackendID}
		if len(row.Attributes) > 0 {
			if err := json.Unmarshal(row.Attributes, &id.Attributes); err != nil {
				return view{}, false, fmt.Errorf("identity of %s on %s: %w", who.user.Name, name, err)
			}
		}
	}
	v = view{src: src, partitions: partition.ForUser(src, id), identity: id}
	if len(v.partitions) == 0 {
		return view{}, false, nil
	}
	for i := range src.Entities {
		e := &src.Entities[i]
		if slices.ContainsFunc(v.partitions, func(p string) bool { return partition.Entity(p) == e.Name }) {
			v.entities = append(v.entities, e)
		}
	}
	return v, true, nil
}

// sourceView is viewOf for a handler: it answers 404 or 500 itself.
func (s *Server) sourceView(c *gin.Context) (view, bool) {
	name := c.Param("source")
	v, ok, err := s.viewOf(c, name)
	if err != nil {
		s.abortInternal(c, err)
		return view{}, false
	}
	if !ok {
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("source %q not found", name))
		return view{}, false
	}
	return v, true
}

type identityJSON struct {
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

type deviceJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
}

type meResponse struct {
	User       string                  `json:"user"`
	Role       string                  `json:"role"`
	Identities map[string]identityJSON `json:"identities"`
	Device     deviceJSON              `json:"device"`
}

// me is GET /v1/me.
func (s *Server) me(c *gin.Context) {
	who := callerOf(c)
	rows, err := s.st.Identities(c.Request.Context(), who.user.ID)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	resp := meResponse{
		User: who.user.Name, Role: who.user.Role, Identities: map[string]identityJSON{},
		Device: deviceJSON{ID: who.device.DeviceID, CreatedAt: who.device.CreatedAt.UTC(), LastSeenAt: who.device.LastSeenAt.UTC()},
	}
	for _, r := range rows {
		id := identityJSON{ID: r.BackendID}
		if len(r.Attributes) > 0 {
			if err := json.Unmarshal(r.Attributes, &id.Attributes); err != nil {
				s.abortInternal(c, fmt.Errorf("identity of %s on %s: %w", who.user.Name, r.Source, err))
				return
			}
		}
		resp.Identities[r.Source] = id
	}
	c.JSON(http.StatusOK, resp)
}

type sourceSummary struct {
	Name       string   `json:"name"`
	Entities   []string `json:"entities"`
	Partitions []string `json:"partitions"`
	Writable   bool     `json:"writable"`
}

// listSources is GET /v1/sources.
func (s *Server) listSources(c *gin.Context) {
	out := struct {
		Sources []sourceSummary `json:"sources"`
	}{Sources: []sourceSummary{}}
	for _, src := range s.cfg.Sources {
		v, ok, err := s.viewOf(c, src.Name)
		if err != nil {
			s.abortInternal(c, err)
			return
		}
		if !ok {
			continue
		}
		sum := sourceSummary{Name: src.Name, Partitions: v.partitions}
		for _, e := range v.entities {
			sum.Entities = append(sum.Entities, e.Name)
			sum.Writable = sum.Writable || !e.ReadOnly
		}
		out.Sources = append(out.Sources, sum)
	}
	c.JSON(http.StatusOK, out)
}

// EntitySchema is an entity as devices see it: the connector's schema cut
// down to the configured projection, with the config's read-only flag and
// partition rule.
type EntitySchema struct {
	Name        string         `json:"name"`
	Key         string         `json:"key"`
	Fields      []sdk.Field    `json:"fields"`
	Lookups     []LookupSchema `json:"lookups"`
	ReadOnly    bool           `json:"read_only"`
	PartitionBy string         `json:"partition_by"`
	// Hash is the SHA-256 (hex) of this value's JSON with Hash empty.
	Hash string `json:"hash"`
}

// LookupSchema names a lookup field and the entities it may point to.
type LookupSchema struct {
	Field    string   `json:"field"`
	Entities []string `json:"entities"`
}

// DeviceSchema builds the device's view of an entity from the connector's
// schema and the config, hash included. It is deterministic: equal inputs
// give equal hashes across hub instances and restarts.
func DeviceSchema(e *config.Entity, es sdk.EntitySchema) EntitySchema {
	out := EntitySchema{Name: e.Name, Key: es.Key, Fields: []sdk.Field{}, Lookups: []LookupSchema{},
		ReadOnly: e.ReadOnly || es.ReadOnly, PartitionBy: e.Partition.Raw}
	if len(e.Fields) == 0 {
		out.Fields = append(out.Fields, es.Fields...)
	} else {
		for _, name := range e.Fields {
			f, ok := es.Field(name)
			if !ok {
				// The hub checks projections against the schema at start;
				// a field the connector stopped offering travels as JSON.
				f = sdk.Field{Name: name, Type: sdk.TypeJSON}
			}
			out.Fields = append(out.Fields, f)
		}
	}
	for _, f := range out.Fields {
		if f.Type != sdk.TypeLookup {
			continue
		}
		l := LookupSchema{Field: f.Name, Entities: []string{}}
		for _, t := range strings.Split(f.Lookup, ",") {
			if t = strings.TrimSpace(t); t != "" {
				l.Entities = append(l.Entities, t)
			}
		}
		out.Lookups = append(out.Lookups, l)
	}
	canon, _ := json.Marshal(out) // struct fields in fixed order: canonical
	sum := sha256.Sum256(canon)
	out.Hash = hex.EncodeToString(sum[:])
	return out
}

// schema is GET /v1/sources/{source}/schema.
func (s *Server) schema(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok {
		return
	}
	sch, err := s.sources.Schema(c.Request.Context(), v.src.Name)
	if err != nil {
		s.log.Warn("schema unavailable", "source", v.src.Name, "error", err)
		abortError(c, http.StatusServiceUnavailable, codeUnavailable,
			fmt.Sprintf("schema of source %q is unavailable; retry later", v.src.Name))
		return
	}
	out := struct {
		Source   string         `json:"source"`
		Entities []EntitySchema `json:"entities"`
	}{Source: v.src.Name, Entities: []EntitySchema{}}
	for _, e := range v.entities {
		es, _ := sch.Entity(e.Name)
		out.Entities = append(out.Entities, DeviceSchema(e, es))
	}
	c.JSON(http.StatusOK, out)
}
