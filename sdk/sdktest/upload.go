package sdktest

import (
	"bytes"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/synchub/synchub/sdk"
)

// uploadRoundTripCase: a create with a client id, an update and a delete,
// each applied at the version the last one gave, show in full passes.
func uploadRoundTripCase(h *harness, e EntityConfig) {
	h.writable(e)
	fields := e.NewRecord(h.next())
	id, created := h.create(e, fields)
	got, ok := h.find(e, id)
	if !ok {
		h.Fatalf("created %s %s is not in a full pass", e.Name, id)
	}
	if got.Version != created.Version {
		h.Errorf("the full pass gives %s version %q, the upload result %q", id, got.Version, created.Version)
	}
	h.expectFields(got, fields, "the created record")
	if e.Update != nil {
		change := e.Update(got)
		res := h.upload(false, op(e, sdk.OpUpdate, id, got.Version, change))[0]
		h.expectStatus(res, sdk.StatusApplied, "an update at the current version")
		if res.Record == nil || res.Record.Version == got.Version {
			h.Errorf("an applied update must return the record at a new version; got %+v", res.Record)
		}
		if got, ok = h.find(e, id); !ok {
			h.Fatalf("updated %s %s is not in a full pass", e.Name, id)
		}
		h.expectFields(got, change, "the updated record")
	}
	res := h.upload(false, op(e, sdk.OpDelete, id, got.Version, nil))[0]
	h.expectStatus(res, sdk.StatusApplied, "a delete at the current version")
	if _, ok := h.find(e, id); ok {
		h.Errorf("deleted %s %s is still in a full pass", e.Name, id)
	}
}

// uploadStaleUpdateCase: an update based on a version the server has moved
// past is a conflict carrying the server's record.
func uploadStaleUpdateCase(h *harness, e EntityConfig) {
	h.writable(e)
	h.needBackend(e)
	if e.Update == nil {
		h.Skipf("needs EntityConfig.Update for %s", e.Name)
	}
	id, rec := h.create(e, e.NewRecord(h.next()))
	if err := h.backend.Update(e.Name, id, e.Update(rec)); err != nil {
		h.Fatalf("Backend.Update(%s %s): %v", e.Name, id, err)
	}
	res := h.upload(false, op(e, sdk.OpUpdate, id, rec.Version, e.Update(rec)))[0]
	h.expectStatus(res, sdk.StatusConflict, "an update at a stale version")
	if res.Status == sdk.StatusConflict && (res.Record == nil || res.Record.Version == rec.Version) {
		h.Errorf("a conflict must carry the server's record at its new version; got %+v", res.Record)
	}
}

// uploadUpdateOfDeletedCase: an update of a record deleted on the server is
// not_found.
func uploadUpdateOfDeletedCase(h *harness, e EntityConfig) {
	h.writable(e)
	if e.Update == nil {
		h.Skipf("needs EntityConfig.Update for %s", e.Name)
	}
	id, rec := h.create(e, e.NewRecord(h.next()))
	if h.backend != nil {
		if err := h.backend.Delete(e.Name, id); err != nil {
			h.Fatalf("Backend.Delete(%s %s): %v", e.Name, id, err)
		}
	} else {
		h.expectStatus(h.upload(false, op(e, sdk.OpDelete, id, "", nil))[0], sdk.StatusApplied, "a delete")
	}
	res := h.upload(false, op(e, sdk.OpUpdate, id, rec.Version, e.Update(rec)))[0]
	h.expectStatus(res, sdk.StatusNotFound, "an update of a deleted record")
}

// uploadReplayedCreateCase: a create sent again after its answer was lost
// (same mutation, same client id) makes one record, not two.
func uploadReplayedCreateCase(h *harness, e EntityConfig) {
	h.writable(e)
	before := h.count(e)
	create := op(e, sdk.OpCreate, uuid.NewString(), "", e.NewRecord(h.next()))
	first := h.upload(false, create)[0]
	h.expectStatus(first, sdk.StatusApplied, "a create")
	again := h.upload(false, create)[0]
	h.expectStatus(again, sdk.StatusApplied, "the same create sent again")
	if again.ID != first.ID {
		h.Errorf("the replayed create answers id %q, the first %q", again.ID, first.ID)
	}
	if after := h.count(e); after != before+1 {
		h.Errorf("%s went from %d to %d records: the replayed create was not idempotent", e.Name, before, after)
	}
}

// uploadAtomicCase: an atomic batch with a failing op applies nothing; one
// without applies everything.
func uploadAtomicCase(h *harness, e EntityConfig) {
	h.writable(e)
	if !h.describe().AtomicBatches {
		h.Skipf("the connector does not announce atomic batches")
	}
	before := h.count(e)
	good := op(e, sdk.OpCreate, uuid.NewString(), "", e.NewRecord(h.next()))
	bad := op(e, sdk.OpUpdate, uuid.NewString(), "", e.NewRecord(h.next())) // no such record
	for _, res := range h.upload(true, good, bad) {
		if res.Status == sdk.StatusApplied {
			h.Errorf("an atomic batch with an update of a missing record applied mutation %s", res.MutationID)
		}
	}
	if after := h.count(e); after != before {
		h.Errorf("%s went from %d to %d records after a failed atomic batch", e.Name, before, after)
	}
	a := op(e, sdk.OpCreate, uuid.NewString(), "", e.NewRecord(h.next()))
	b := op(e, sdk.OpCreate, uuid.NewString(), "", e.NewRecord(h.next()))
	for _, res := range h.upload(true, a, b) {
		h.expectStatus(res, sdk.StatusApplied, "a create in an atomic batch that can succeed")
	}
	if after := h.count(e); after != before+2 {
		h.Errorf("%s went from %d to %d records after an atomic batch of two creates", e.Name, before, after)
	}
}

// writable skips the case unless the entity can be written through Upload.
func (h *harness) writable(e EntityConfig) {
	h.Helper()
	h.require(sdk.CapFetch, sdk.CapUpload)
	if !e.Writable || e.NewRecord == nil {
		h.Skipf("%s is not configured Writable with a NewRecord", e.Name)
	}
}

func op(e EntityConfig, kind sdk.OpKind, id, base string, fields map[string]any) sdk.Op {
	return sdk.Op{MutationID: uuid.NewString(), Entity: e.Name, Kind: kind, ID: id, BaseVersion: base, Fields: fields}
}

// upload sends ops and returns their results in the order of ops.
func (h *harness) upload(atomic bool, ops ...sdk.Op) []sdk.OpResult {
	h.Helper()
	resp, err := h.client.Upload(h.ctx, sdk.UploadRequest{Ops: ops, Atomic: atomic})
	if err != nil {
		h.Fatalf("Upload: %v", err)
	}
	byID := map[string]sdk.OpResult{}
	for _, r := range resp.Results {
		byID[r.MutationID] = r
	}
	out := make([]sdk.OpResult, len(ops))
	for i, o := range ops {
		r, ok := byID[o.MutationID]
		if !ok {
			h.Fatalf("Upload gave no result for mutation %s", o.MutationID)
		}
		out[i] = r
	}
	return out
}

// create uploads a create with a client id and returns the record's id (the
// back end's, if it assigned its own) and the record as stored. It sends
// the create as the hub does: fields as JSON (Op.Raw) and the result's
// record as JSON (UploadRequest.RawResults), which the Client must turn
// into Fields for the connector and hand back as an object.
func (h *harness) create(e EntityConfig, fields map[string]any) (string, sdk.Record) {
	h.Helper()
	o := op(e, sdk.OpCreate, uuid.NewString(), "", nil)
	raw, err := json.Marshal(fields)
	if err != nil {
		h.Fatalf("encode the fields of a new %s: %v", e.Name, err)
	}
	o.Raw = raw
	resp, err := h.client.Upload(h.ctx, sdk.UploadRequest{Ops: []sdk.Op{o}, RawResults: true})
	if err != nil {
		h.Fatalf("Upload: %v", err)
	}
	if len(resp.Results) != 1 || resp.Results[0].MutationID != o.MutationID {
		h.Fatalf("Upload of one create gave results %+v", resp.Results)
	}
	res := resp.Results[0]
	if res.Record != nil {
		if res.Record.Fields, err = res.Record.FieldMap(); err != nil {
			h.Fatalf("the created %s's record: %v", e.Name, err)
		}
	}
	if res.Status != sdk.StatusApplied {
		h.Fatalf("a create of %s %v is %s: %s (missing lookups %v)", e.Name, fields, res.Status, res.Message, res.MissingLookups)
	}
	if res.Record == nil || res.Record.Version == "" {
		h.Fatalf("an applied create must return the stored record with its version; got %+v", res.Record)
	}
	id := res.ID
	if id == "" {
		id = o.ID
	}
	return id, *res.Record
}

func (h *harness) expectStatus(res sdk.OpResult, want sdk.OpStatus, what string) {
	h.Helper()
	if res.Status != want {
		h.Errorf("%s is %s (%s), want %s", what, res.Status, res.Message, want)
	}
}

// expectFields reports fields whose JSON differs from what was written.
func (h *harness) expectFields(rec sdk.Record, want map[string]any, what string) {
	h.Helper()
	for k, v := range want {
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(rec.Fields[k])
		if !bytes.Equal(a, b) {
			h.Errorf("%s %s has %s = %s, want %s", what, rec.ID, k, b, a)
		}
	}
}

// find looks a record up in a full pass, with every field.
func (h *harness) find(e EntityConfig, id string) (sdk.Record, bool) {
	h.Helper()
	for _, r := range recordsOf(h.pass(sdk.FetchRequest{Entity: e.Name, PageSize: h.cfg.PageSize})) {
		if r.ID == id {
			return r, true
		}
	}
	return sdk.Record{}, false
}

func (h *harness) count(e EntityConfig) int {
	h.Helper()
	return len(recordsOf(h.pass(sdk.FetchRequest{Entity: e.Name, PageSize: h.cfg.PageSize})))
}

// uploadReplayedWritesCase: an update and a delete sent again after their
// answers were lost (same mutation) have one effect: the replayed update
// never applies twice (the version moved, so it is a conflict or applied
// again with the same record), the replayed delete removes nothing more.
func uploadReplayedWritesCase(h *harness, e EntityConfig) {
	h.writable(e)
	if e.Update == nil {
		h.Skipf("needs EntityConfig.Update for %s", e.Name)
	}
	id, rec := h.create(e, e.NewRecord(h.next()))
	change := e.Update(rec)
	update := op(e, sdk.OpUpdate, id, rec.Version, change)
	first := h.upload(false, update)[0]
	h.expectStatus(first, sdk.StatusApplied, "an update")
	again := h.upload(false, update)[0]
	switch again.Status {
	case sdk.StatusApplied, sdk.StatusConflict:
	default:
		h.Errorf("the same update sent again answers %s (%s), want applied or conflict", again.Status, again.Message)
	}
	got, ok := h.find(e, id)
	if !ok {
		h.Fatalf("updated %s %s is not in a full pass", e.Name, id)
	}
	h.expectFields(got, change, "the record after a replayed update")
	before := h.count(e)
	del := op(e, sdk.OpDelete, id, got.Version, nil)
	h.expectStatus(h.upload(false, del)[0], sdk.StatusApplied, "a delete")
	switch res := h.upload(false, del)[0]; res.Status {
	case sdk.StatusApplied, sdk.StatusNotFound:
	default:
		h.Errorf("the same delete sent again answers %s (%s), want applied or not_found", res.Status, res.Message)
	}
	if after := h.count(e); after != before-1 {
		h.Errorf("%s went from %d to %d records after a delete and its replay", e.Name, before, after)
	}
}
