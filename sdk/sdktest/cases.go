package sdktest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
)

// testCase is one conformance case. Adding a case is one entry in cases
// (and one flag in SkipFlags).
type testCase struct {
	name      string
	skip      func(SkipFlags) bool
	perEntity bool // run once per Config.Entities, as a subtest named after it
	run       func(h *harness, e EntityConfig)
}

var cases = []testCase{
	{"describe", func(s SkipFlags) bool { return s.Describe }, false, describeCase},
	{"schema", func(s SkipFlags) bool { return s.Schema }, false, schemaCase},
	{"check", func(s SkipFlags) bool { return s.Check }, false, checkCase},

	{"fetch_full", func(s SkipFlags) bool { return s.FetchFull }, true, fetchFullCase},
	{"fetch_incremental", func(s SkipFlags) bool { return s.FetchIncremental }, true, fetchIncrementalCase},
	{"fetch_resume", func(s SkipFlags) bool { return s.FetchResume }, true, fetchResumeCase},
	{"cursor_from_future", func(s SkipFlags) bool { return s.CursorFromFuture }, true, cursorFromFutureCase},
	{"page_size", func(s SkipFlags) bool { return s.PageSize }, true, pageSizeCase},
	{"filter_pushdown", func(s SkipFlags) bool { return s.FilterPushdown }, true, filterPushdownCase},

	{"upload_round_trip", func(s SkipFlags) bool { return s.UploadRoundTrip }, true, uploadRoundTripCase},
	{"upload_stale_update_conflicts", func(s SkipFlags) bool { return s.UploadStaleUpdate }, true, uploadStaleUpdateCase},
	{"upload_update_of_deleted_is_not_found", func(s SkipFlags) bool { return s.UploadUpdateOfDeleted }, true, uploadUpdateOfDeletedCase},
	{"upload_replayed_create_applies_once", func(s SkipFlags) bool { return s.UploadReplayedCreate }, true, uploadReplayedCreateCase},
	{"upload_replayed_writes_apply_once", func(s SkipFlags) bool { return s.UploadReplayedWrites }, true, uploadReplayedWritesCase},
	{"upload_atomic_is_all_or_nothing", func(s SkipFlags) bool { return s.UploadAtomic }, true, uploadAtomicCase},

	{"files_round_trip", func(s SkipFlags) bool { return s.Files }, false, filesRoundTripCase},

	{"resolve_user", func(s SkipFlags) bool { return s.ResolveUser }, false, resolveUserCase},
}

// describeCase: the description names the connector, speaks this SDK's
// protocol version and announces exactly the capabilities it implements.
func describeCase(h *harness, _ EntityConfig) {
	d := h.describe()
	if d.Name == "" || d.Version == "" {
		h.Errorf("Describe gives name %q and version %q; both must be set", d.Name, d.Version)
	}
	if d.ProtocolVersion != sdk.ProtocolVersion {
		h.Errorf("protocol version is %d, want %d", d.ProtocolVersion, sdk.ProtocolVersion)
	}
	if want := sdk.Capabilities(h.conn); !slices.Equal(d.Capabilities, want) {
		h.Errorf("capabilities are %v, but the connector implements %v", d.Capabilities, want)
	}
	if d.MaxBatchSize < 0 {
		h.Errorf("MaxBatchSize is %d; it must be 0 (default) or more", d.MaxBatchSize)
	}
	seen := map[string]bool{}
	for _, f := range d.ConfigSchema {
		if f.Name == "" || seen[f.Name] {
			h.Errorf("config schema has an empty or repeated key %q", f.Name)
		}
		seen[f.Name] = true
	}
}

// schemaCase: every configured entity is described consistently, and an
// unknown entity is an error naming it.
func schemaCase(h *harness, _ EntityConfig) {
	var names []string
	for _, e := range h.cfg.Entities {
		names = append(names, e.Name)
	}
	s, err := h.client.Schema(h.ctx, sdk.SchemaRequest{Entities: names})
	if err != nil {
		h.Fatalf("Schema(%v): %v", names, err)
	}
	d := h.describe()
	for _, e := range h.cfg.Entities {
		es, ok := s.Entity(e.Name)
		if !ok {
			h.Errorf("schema lacks entity %s", e.Name)
			continue
		}
		checkEntitySchema(h, d, e, es)
	}
	const unknown = "sdktest_no_such_entity"
	_, err = h.client.Schema(h.ctx, sdk.SchemaRequest{Entities: []string{unknown}})
	var se *sdk.Error
	switch {
	case !errors.As(err, &se) || se.Code != sdk.CodeUnknownEntity:
		h.Errorf("Schema of an unknown entity: got %v, want a *sdk.Error of code %s", err, sdk.CodeUnknownEntity)
	case se.Entity != unknown && !strings.Contains(se.Error(), unknown):
		h.Errorf("the unknown-entity error %q does not name the entity %s", se.Error(), unknown)
	}
}

var fieldTypes = []sdk.FieldType{sdk.TypeString, sdk.TypeText, sdk.TypeInt, sdk.TypeDecimal, sdk.TypeBool,
	sdk.TypeDateTime, sdk.TypeDate, sdk.TypeGUID, sdk.TypeLookup, sdk.TypeJSON}

func checkEntitySchema(h *harness, d sdk.Description, e EntityConfig, es sdk.EntitySchema) {
	h.Helper()
	seen := map[string]bool{}
	for _, f := range es.Fields {
		switch {
		case f.Name == "" || seen[f.Name]:
			h.Errorf("%s: empty or repeated field name %q", e.Name, f.Name)
		case !slices.Contains(fieldTypes, f.Type):
			h.Errorf("%s.%s: type %q is not an sdk field type", e.Name, f.Name, f.Type)
		case f.Type == sdk.TypeLookup && f.Lookup == "":
			h.Errorf("%s.%s: a lookup field must name its target entity", e.Name, f.Name)
		}
		seen[f.Name] = true
	}
	named := map[string]string{"key": es.Key, "version field": es.VersionField, "modified field": es.ModifiedField}
	for what, name := range named {
		if name != "" && !seen[name] {
			h.Errorf("%s: %s %q is not among the fields", e.Name, what, name)
		}
	}
	if es.Key == "" {
		h.Errorf("%s: no key field", e.Name)
	}
	for _, f := range e.Fields {
		if !seen[f] {
			h.Errorf("%s: configured field %q is not in the schema", e.Name, f)
		}
	}
	switch es.Deletes {
	case sdk.DeletesInline:
	case sdk.DeletesFeed:
		if !d.Has(sdk.CapDeletions) {
			h.Errorf("%s: deletes come from a feed, but the connector does not implement DeleteTracker", e.Name)
		}
	case sdk.DeletesNone:
		if !d.Has(sdk.CapListIDs) {
			h.Errorf("%s: no delete tracking and no IDLister: the hub could never learn of deletions", e.Name)
		}
	default:
		h.Errorf("%s: Deletes is %q, want inline, feed or none", e.Name, es.Deletes)
	}
	if e.Writable && (es.ReadOnly || !d.Has(sdk.CapUpload)) {
		h.Errorf("%s is configured writable, but the schema says read-only or the connector has no Uploader", e.Name)
	}
	if e.Filter != "" {
		expr, err := filter.Parse(e.Filter)
		if err != nil {
			h.Errorf("%s: filter %q: %v", e.Name, e.Filter, err)
		}
		for _, f := range filter.Fields(expr) {
			if first, _, _ := strings.Cut(f, "/"); !seen[first] {
				h.Errorf("%s: filter field %q is not in the schema", e.Name, f)
			}
		}
	}
}

// checkCase: Check succeeds and says who the connector is.
func checkCase(h *harness, _ EntityConfig) {
	r, err := h.client.Check(h.ctx)
	if err != nil {
		h.Fatalf("Check: %v", err)
	}
	if r.Identity.ID == "" {
		h.Errorf("Check gives no identity id; the hub partitions records by it")
	}
}

func (h *harness) describe() sdk.Description {
	h.Helper()
	d, err := h.client.Describe(h.ctx)
	if err != nil {
		h.Fatalf("Describe: %v", err)
	}
	return d
}

// require skips the case unless the connector has every capability.
func (h *harness) require(caps ...sdk.Capability) {
	h.Helper()
	d := h.describe()
	for _, c := range caps {
		if !d.Has(c) {
			h.Skipf("the connector does not announce %s", c)
		}
	}
}

// needBackend skips the case unless it can create records on the server.
func (h *harness) needBackend(e EntityConfig) {
	h.Helper()
	if h.backend == nil || e.NewRecord == nil {
		h.Skipf("needs Config.Backend and EntityConfig.NewRecord for %s", e.Name)
	}
}

func (h *harness) schema(e EntityConfig) sdk.EntitySchema {
	h.Helper()
	s, err := h.client.Schema(h.ctx, sdk.SchemaRequest{Entities: []string{e.Name}})
	if err != nil {
		h.Fatalf("Schema(%s): %v", e.Name, err)
	}
	es, ok := s.Entity(e.Name)
	if !ok {
		h.Fatalf("schema lacks entity %s", e.Name)
	}
	return es
}

// next returns a number NewRecord has not had yet in this case.
func (h *harness) next() int {
	h.seq++
	return h.seq
}

func (h *harness) put(e EntityConfig) string {
	h.Helper()
	id, err := h.backend.Put(e.Name, e.NewRecord(h.next()))
	if err != nil {
		h.Fatalf("Backend.Put(%s): %v", e.Name, err)
	}
	return id
}

func describeFetch(req sdk.FetchRequest) string {
	kind := "full"
	if req.Incremental {
		kind = "incremental"
	}
	return fmt.Sprintf("%s pass of %s from cursor %q", kind, req.Entity, req.Cursor)
}
