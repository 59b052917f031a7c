package dynamicscrm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
)

// Dataverse error codes the upload path branches on.
const (
	codeDuplicate = "0x80040237" // DuplicateRecord: a record with matching key values already exists
	codeNotExist  = "0x80040217" // ObjectDoesNotExist: <table> With Id = <id> Does Not Exist
)

// WritePrefer is the Prefer header of the connector's creates and
// updates: answer with the record as stored, lookup targets included.
// Exported for benchmarks that post what the connector posts.
var WritePrefer = odata.Prefer{ReturnRepresentation: true, Annotations: lookupAnnotation}

// plan is one op ready to send, or the reason it cannot be.
type plan struct {
	op  sdk.Op
	m   *entityMeta
	req odata.BatchRequest
	bad string // refused before sending
}

// fields is the op's fields as a map, decoded on the rare paths that
// compare them (the op carries them as JSON); nil if they cannot be.
func (p *plan) fields() map[string]any {
	f, err := p.op.FieldMap()
	if err != nil {
		return nil
	}
	return f
}

// probe is the server's record of an op, read after an answer that needs
// it: found says whether it exists; known is false when the read failed.
type probe struct {
	rec   *sdk.Record
	known bool
}

// Upload applies ops through $batch: an atomic request is one change set
// (all or nothing); otherwise each op is a request of its own with
// continue-on-error, so one failure sinks nothing else. Batches hold at
// most MaxBatchSize requests.
func (c *Connector) Upload(ctx context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	if c.http == nil {
		return sdk.UploadResponse{}, errNotConfigured
	}
	plans := make([]*plan, len(req.Ops))
	for i, op := range req.Ops {
		p, err := c.plan(ctx, op)
		if err != nil {
			return sdk.UploadResponse{}, err
		}
		plans[i] = p
	}
	if req.Atomic {
		return c.uploadGroup(ctx, plans)
	}
	var resp sdk.UploadResponse
	var ready []*plan
	for _, p := range plans {
		if p.bad != "" {
			resp.Results = append(resp.Results, rejected(p, p.bad))
			continue
		}
		ready = append(ready, p)
	}
	for len(ready) > 0 {
		chunk := ready[:min(len(ready), MaxBatchSize)]
		ready = ready[len(chunk):]
		var b odata.Batch
		for _, p := range chunk {
			b.Add(p.req)
		}
		answers, err := odata.DoBatch(ctx, c.http, c.api+"/$batch", &b, odata.Prefer{ContinueOnError: true})
		if err != nil {
			return sdk.UploadResponse{}, c.callError("upload a $batch of "+fmt.Sprint(len(chunk))+" operations", err)
		}
		probes, err := c.probe(ctx, chunk, func(i int) bool { return needsProbe(chunk[i], answers[i]) })
		if err != nil {
			return sdk.UploadResponse{}, err
		}
		for i, p := range chunk {
			resp.Results = append(resp.Results, c.outcome(p, answers[i], probes[i], false))
		}
	}
	return resp, nil
}

// uploadGroup sends an all-or-nothing group as one change set.
func (c *Connector) uploadGroup(ctx context.Context, plans []*plan) (sdk.UploadResponse, error) {
	var resp sdk.UploadResponse
	all := func(status sdk.OpStatus, msg func(*plan) string) sdk.UploadResponse {
		for _, p := range plans {
			resp.Results = append(resp.Results, sdk.OpResult{MutationID: p.op.MutationID, ID: p.op.ID, Status: status, Message: msg(p)})
		}
		return resp
	}
	if i := slices.IndexFunc(plans, func(p *plan) bool { return p.bad != "" }); i >= 0 {
		culprit := plans[i]
		return all(sdk.StatusRejected, func(p *plan) string {
			if p == culprit {
				return p.bad
			}
			return fmt.Sprintf("not sent: mutation %s of its all-or-nothing group was refused: %s", culprit.op.MutationID, culprit.bad)
		}), nil
	}
	if len(plans) > MaxBatchSize {
		return all(sdk.StatusRejected, func(*plan) string {
			return fmt.Sprintf("an all-or-nothing group of %d operations exceeds the %d a Dataverse change set may hold", len(plans), MaxBatchSize)
		}), nil
	}
	if len(plans) == 0 {
		return resp, nil
	}
	var b odata.Batch
	reqs := make([]odata.BatchRequest, len(plans))
	for i, p := range plans {
		reqs[i] = p.req
	}
	b.AddChangeSet(reqs...)
	answers, err := odata.DoBatch(ctx, c.http, c.api+"/$batch", &b, odata.Prefer{})
	if err != nil {
		return sdk.UploadResponse{}, c.callError(fmt.Sprintf("upload an all-or-nothing group of %d operations", len(plans)), err)
	}
	failed := slices.IndexFunc(answers, func(a odata.BatchResponse) bool { return !ok(a.Status) })
	if failed < 0 {
		probes, err := c.probe(ctx, plans, func(i int) bool { return needsProbe(plans[i], answers[i]) })
		if err != nil {
			return sdk.UploadResponse{}, err
		}
		for i, p := range plans {
			resp.Results = append(resp.Results, c.outcome(p, answers[i], probes[i], true))
		}
		return resp, nil
	}
	// The group failed. A transient failure retries it whole.
	for _, a := range answers {
		if transient(a.Status) {
			after := odata.RetryAfter(a.Header)
			msg := odata.ParseError(a.Status, a.Body).Error()
			for _, p := range plans {
				resp.Results = append(resp.Results, sdk.OpResult{MutationID: p.op.MutationID, ID: p.op.ID, Status: sdk.StatusRetry, Message: msg, RetryAfter: after})
			}
			return resp, nil
		}
	}
	failure := answers[failed]
	probes, err := c.probe(ctx, plans, func(int) bool { return true })
	if err != nil {
		return sdk.UploadResponse{}, err
	}
	// A group sent again after its answer was lost fails on its first
	// create (the key exists): if the server holds every op's effect, the
	// first send applied the group.
	if replayed(plans, probes) {
		for i, p := range plans {
			resp.Results = append(resp.Results, c.outcome(p, odata.BatchResponse{Status: http.StatusOK}, probes[i], true))
		}
		return resp, nil
	}
	culprit := -1
	if !failure.SetFailure {
		culprit = failed
	} else {
		culprit = diagnose(plans, probes, odata.ParseError(failure.Status, failure.Body))
	}
	msg := odata.ParseError(failure.Status, failure.Body).Error()
	for i, p := range plans {
		switch {
		case i == culprit:
			resp.Results = append(resp.Results, c.outcome(p, failure, probes[i], true))
		case culprit >= 0:
			resp.Results = append(resp.Results, rejected(p, fmt.Sprintf("not applied: its all-or-nothing group failed on mutation %s: %s", plans[culprit].op.MutationID, msg)))
		default:
			resp.Results = append(resp.Results, rejected(p, "not applied: its all-or-nothing group failed: "+msg))
		}
	}
	return resp, nil
}

// plan builds an op's request. An op the connector can tell is wrong
// (unknown table or column, a bad id or lookup) gets bad; an error means
// the call must fail (the metadata could not be read).
func (c *Connector) plan(ctx context.Context, op sdk.Op) (*plan, error) {
	p := &plan{op: op}
	m, err := c.entity(ctx, op.Entity)
	if err != nil {
		if sdk.CodeOf(err) == sdk.CodeUnknownEntity {
			p.bad = err.Error()
			return p, nil
		}
		return nil, err
	}
	p.m = m
	if op.ID != "" && !isGUID(op.ID) || op.ID == "" && op.Kind != sdk.OpCreate {
		p.bad = fmt.Sprintf("%s id %q is not a GUID", m.logical, op.ID)
		return p, nil
	}
	id := strings.ToLower(op.ID)
	h := http.Header{}
	set := c.path + "/" + m.set
	switch op.Kind {
	case sdk.OpCreate, sdk.OpUpdate:
		body, bad, err := c.body(ctx, m, op)
		if err != nil || bad != "" {
			p.bad = bad
			return p, err
		}
		WritePrefer.Set(h)
		if op.Kind == sdk.OpCreate {
			p.req = odata.BatchRequest{Method: http.MethodPost, URL: set, Header: h, Body: body}
			return p, nil
		}
		// If-Match: * when there is no base version: a forced update must
		// not re-create a record deleted on the server (PATCH is an upsert).
		odata.SetIfMatch(h, op.BaseVersion)
		p.req = odata.BatchRequest{Method: http.MethodPatch, URL: set + "(" + id + ")", Header: h, Body: body}
	case sdk.OpDelete:
		if op.BaseVersion != "" {
			odata.SetIfMatch(h, op.BaseVersion)
		}
		p.req = odata.BatchRequest{Method: http.MethodDelete, URL: set + "(" + id + ")", Header: h}
	default:
		p.bad = fmt.Sprintf("unknown operation %q", op.Kind)
	}
	return p, nil
}

// body is the JSON of a create or an update, written from the op's fields
// JSON (the connector is a sdk.RawFieldsUploader): values pass as the
// device wrote them. A create carries the device's id as the primary key,
// so a retried create meets "duplicate key" instead of making a second
// record. Lookups go out as <navigation>@odata.bind references; a null
// lookup clears the column on update.
func (c *Connector) body(ctx context.Context, m *entityMeta, op sdk.Op) (body []byte, bad string, err error) {
	raw, err := op.RawFields()
	if err != nil {
		return nil, fmt.Sprintf("the fields cannot be encoded: %v", err), nil
	}
	out := make([]byte, 0, len(raw)+len(m.pk)+48)
	out = append(out, '{')
	member := func(name string) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(appendJSONString(out, name), ':')
	}
	if op.Kind == sdk.OpCreate && op.ID != "" {
		member(m.pk)
		out = appendJSONString(out, strings.ToLower(op.ID))
	}
	gjson.ParseBytes(raw).ForEach(func(k, v gjson.Result) bool {
		f := k.String()
		a, ferr := m.field(f)
		switch {
		case ferr != nil:
			bad = ferr.Error()
			return false
		case f == m.pk:
			return true
		case op.Kind == sdk.OpCreate && !a.create, op.Kind == sdk.OpUpdate && !a.update:
			bad = fmt.Sprintf("column %s of table %s cannot be set on %s", f, m.logical, op.Kind)
			return false
		case a.typ != sdk.TypeLookup:
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(append(append(out, k.Raw...), ':'), v.Raw...)
			return true
		}
		ref, ok := refOf(v.Value())
		if !ok {
			bad = fmt.Sprintf(`lookup %s must be {"entity": <table>, "id": <guid>} or null, not %s`, f, v.Raw)
			return false
		}
		if ref.ID == "" {
			if op.Kind == sdk.OpUpdate && len(a.targets) > 0 {
				member(a.nav(a.targets[0]) + "@odata.bind")
				out = append(out, "null"...)
			}
			return true
		}
		target := ref.Entity
		if target == "" && len(a.targets) == 1 {
			target = a.targets[0]
		}
		if !slices.Contains(a.targets, target) {
			bad = fmt.Sprintf("lookup %s points to tables %v, not %q", f, a.targets, target)
			return false
		}
		if !isGUID(ref.ID) {
			bad = fmt.Sprintf("lookup %s: id %q is not a GUID", f, ref.ID)
			return false
		}
		tm, terr := c.entity(ctx, target)
		if terr != nil {
			if sdk.CodeOf(terr) == sdk.CodeUnknownEntity {
				bad = fmt.Sprintf("lookup %s: %v", f, terr)
			} else {
				err = terr
			}
			return false
		}
		member(a.nav(target) + "@odata.bind")
		out = appendJSONString(out, "/"+tm.set+"("+strings.ToLower(ref.ID)+")")
		return true
	})
	if err != nil || bad != "" {
		return nil, bad, err
	}
	return append(out, '}'), "", nil
}

// refOf reads a lookup value: {"entity", "id"} (as JSON gives it, or as
// an sdk.Ref), a bare id, or null (ID "").
func refOf(v any) (sdk.Ref, bool) {
	switch x := v.(type) {
	case nil:
		return sdk.Ref{}, true
	case sdk.Ref:
		return x, true
	case *sdk.Ref:
		if x == nil {
			return sdk.Ref{}, true
		}
		return *x, true
	case string:
		return sdk.Ref{ID: x}, true
	case map[string]any:
		e, _ := x["entity"].(string)
		id, isStr := x["id"].(string)
		if x["id"] != nil && !isStr {
			return sdk.Ref{}, false
		}
		return sdk.Ref{Entity: e, ID: id}, true
	}
	return sdk.Ref{}, false
}

func ok(status int) bool { return status >= 200 && status < 300 }

// transient reports statuses worth sending again later.
func transient(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// needsProbe reports whether an answer is settled only by reading the
// record: a write answered without the record, or a 412 (a lost create's
// retry, or a stale version whose conflict carries the server's record).
func needsProbe(p *plan, a odata.BatchResponse) bool {
	switch {
	case ok(a.Status):
		return p.op.Kind != sdk.OpDelete && len(bytes.TrimSpace(a.Body)) == 0
	case a.Status == http.StatusPreconditionFailed:
		return true
	}
	return false
}

// outcome turns an op's answer into its result. inGroup marks an op of an
// all-or-nothing group, where a create whose id exists is a conflict (the
// group was not applied before; replayed tells that case apart).
func (c *Connector) outcome(p *plan, a odata.BatchResponse, pr probe, inGroup bool) sdk.OpResult {
	out := sdk.OpResult{MutationID: p.op.MutationID, ID: strings.ToLower(p.op.ID)}
	var e *odata.ServiceError
	if !ok(a.Status) {
		e = odata.ParseError(a.Status, a.Body)
	}
	switch {
	case ok(a.Status):
		out.Status = sdk.StatusApplied
		if p.op.Kind == sdk.OpDelete {
			return out
		}
		if rec := decodeRecord(p.m, a.Body); rec != nil {
			out.Record, out.ID = rec, rec.ID
			return out
		}
		if id := entityID(a.Header.Get("OData-EntityId")); out.ID == "" {
			out.ID = id
		}
		out.Record = pr.rec // nil if the read failed: the next pull brings it
		return out
	case transient(a.Status):
		out.Status, out.Message, out.RetryAfter = sdk.StatusRetry, e.Error(), odata.RetryAfter(a.Header)
	case a.Status == odata.StatusNotExecuted:
		out.Status, out.Message = sdk.StatusRetry, "not executed: the batch stopped at an earlier failure"
	case a.Status == http.StatusPreconditionFailed && p.op.Kind == sdk.OpCreate:
		switch {
		case !pr.known:
			out.Status, out.Message = sdk.StatusRetry, "the record with this id could not be read: "+e.Error()
		case pr.rec == nil:
			out.Status, out.Message = sdk.StatusRejected, e.Error()
		case inGroup:
			out.Status, out.Record, out.Message = sdk.StatusConflict, pr.rec, "a record with this id exists: "+e.Error()
		default:
			// The create's earlier answer was lost: the record is there.
			out.Status, out.Record = sdk.StatusApplied, pr.rec
		}
	case a.Status == http.StatusPreconditionFailed:
		switch {
		case !pr.known:
			out.Status, out.Message = sdk.StatusRetry, "the current record could not be read: "+e.Error()
		case pr.rec == nil:
			out.Status, out.Message = sdk.StatusNotFound, e.Error()
		default:
			out.Status, out.Record, out.Message = sdk.StatusConflict, pr.rec, e.Error()
		}
	case a.Status == http.StatusNotFound || e.Code == codeNotExist:
		if fields := missingLookups(p, e.Message); len(fields) > 0 {
			out.Status, out.Message, out.MissingLookups = sdk.StatusRejected, e.Error(), fields
		} else if p.op.Kind == sdk.OpCreate {
			out.Status, out.Message = sdk.StatusRejected, e.Error()
		} else {
			out.Status, out.Message = sdk.StatusNotFound, e.Error()
		}
	case a.Status == http.StatusUnauthorized:
		out.Status, out.Message = sdk.StatusRetry, e.Error()
	default:
		out.Status, out.Message = sdk.StatusRejected, e.Error()
	}
	return out
}

func rejected(p *plan, msg string) sdk.OpResult {
	return sdk.OpResult{MutationID: p.op.MutationID, ID: strings.ToLower(p.op.ID), Status: sdk.StatusRejected, Message: msg}
}

var guidIn = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// missingLookups names the op's lookup fields whose target id the
// service's "<table> With Id = <id> Does Not Exist" names.
func missingLookups(p *plan, msg string) []string {
	if p.m == nil {
		return nil
	}
	named := map[string]bool{}
	for _, id := range guidIn.FindAllString(msg, -1) {
		named[strings.ToLower(id)] = true
	}
	var out []string
	for f, v := range p.fields() {
		a := p.m.attrs[f]
		if a == nil || a.typ != sdk.TypeLookup {
			continue
		}
		if ref, ok := refOf(v); ok && ref.ID != "" && named[strings.ToLower(ref.ID)] && !strings.EqualFold(ref.ID, p.op.ID) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// diagnose finds the op that sank a group whose failure named none: the
// first whose precondition the server's records contradict, or whose
// lookup target the error names. -1 when no op can be blamed.
func diagnose(plans []*plan, probes []probe, e *odata.ServiceError) int {
	for i, p := range plans {
		pr := probes[i]
		if len(missingLookups(p, e.Message)) > 0 {
			return i
		}
		if !pr.known {
			continue
		}
		switch p.op.Kind {
		case sdk.OpCreate:
			if pr.rec != nil {
				return i
			}
		case sdk.OpUpdate, sdk.OpDelete:
			if pr.rec == nil || (p.op.BaseVersion != "" && pr.rec.Version != p.op.BaseVersion) {
				return i
			}
		}
	}
	return -1
}

// replayed reports whether the server already holds every op's effect: a
// group applied by an earlier send whose answer was lost.
func replayed(plans []*plan, probes []probe) bool {
	creates := 0
	for i, p := range plans {
		pr := probes[i]
		if !pr.known {
			return false
		}
		switch p.op.Kind {
		case sdk.OpCreate:
			creates++
			if pr.rec == nil || !holds(p.m, pr.rec, p.fields()) {
				return false
			}
		case sdk.OpUpdate:
			if pr.rec == nil || !holds(p.m, pr.rec, p.fields()) {
				return false
			}
		case sdk.OpDelete:
			if pr.rec != nil {
				return false
			}
		}
	}
	return creates > 0 // only a create makes a replayed group fail
}

// holds reports whether rec has the values fields set.
func holds(m *entityMeta, rec *sdk.Record, fields map[string]any) bool {
	have, err := rec.FieldMap()
	if err != nil {
		return false
	}
	for f, v := range fields {
		if f == m.pk {
			continue
		}
		a := m.attrs[f]
		if a != nil && a.typ == sdk.TypeLookup {
			want, _ := refOf(v)
			got, _ := refOf(have[f])
			if !strings.EqualFold(want.ID, got.ID) {
				return false
			}
			continue
		}
		if !sameJSON(v, have[f]) {
			return false
		}
	}
	return true
}

// sameJSON compares two values as JSON (numbers by value).
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			return v
		}
		var out any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// probe reads the current record of the plans want selects, all in one
// $batch of GETs.
func (c *Connector) probe(ctx context.Context, plans []*plan, want func(i int) bool) ([]probe, error) {
	out := make([]probe, len(plans))
	var b odata.Batch
	var idx []int
	for i, p := range plans {
		if !want(i) || p.m == nil || !isGUID(p.op.ID) {
			continue
		}
		h := odata.Headers()
		odata.Prefer{Annotations: lookupAnnotation}.Set(h)
		b.Add(odata.BatchRequest{Method: http.MethodGet, URL: c.path + "/" + p.m.set + "(" + strings.ToLower(p.op.ID) + ")", Header: h})
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return out, nil
	}
	answers, err := odata.DoBatch(ctx, c.http, c.api+"/$batch", &b, odata.Prefer{ContinueOnError: true})
	if err != nil {
		return nil, c.callError("read back the records of a $batch", err)
	}
	for k, i := range idx {
		a := answers[k]
		switch {
		case a.Status == http.StatusOK:
			if rec := decodeRecord(plans[i].m, a.Body); rec != nil {
				out[i] = probe{rec: rec, known: true}
			}
		case a.Status == http.StatusNotFound:
			out[i] = probe{known: true}
		}
	}
	return out, nil
}

// decodeRecord reads a record from an entity body (nil if it is not one),
// as a pass reads rows: its fields as JSON (Raw), not decoded.
func decodeRecord(m *entityMeta, body []byte) *sdk.Record {
	// Not checked to be valid JSON here: the host checks each record's
	// JSON as it receives it.
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil
	}
	rec, err := converter{m: m}.rawRecord(body)
	if err != nil {
		return nil
	}
	return &rec
}

// entityID reads the key from an OData-EntityId URL: …/accounts(<id>).
func entityID(loc string) string {
	i, j := strings.LastIndexByte(loc, '('), strings.LastIndexByte(loc, ')')
	if i < 0 || j <= i+1 {
		return ""
	}
	return strings.ToLower(loc[i+1 : j])
}
