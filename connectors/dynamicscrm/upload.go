package dynamicscrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// Dataverse error codes the upload path branches on.
const (
	codeDuplicate = "0x80040237" // a record with matching key values already exists
	codeNotExist  = "0x80040217" // <table> With Id = <id> Does Not Exist
)

// Upload sends ops as one `$batch`: one change set for an atomic request,
// else a change set per op with continue-on-error, so one failure does not
// sink the others.
func (c *Connector) Upload(ctx context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	var resp sdk.UploadResponse
	ops := make([]odata.BatchOp, len(req.Ops))
	metas := make([]*entityMeta, len(req.Ops))
	var bad []sdk.OpResult
	valid := make([]int, 0, len(req.Ops))
	for i, op := range req.Ops {
		m, err := c.entity(ctx, op.Entity)
		if err != nil {
			var se *sdk.Error
			if errors.As(err, &se) && se.Code == sdk.CodeUnknownEntity {
				bad = append(bad, sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusRejected, Message: err.Error()})
				continue
			}
			return resp, err
		}
		bop, err := c.batchOp(ctx, m, op)
		if err != nil {
			bad = append(bad, sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusRejected, Message: err.Error()})
			continue
		}
		ops[i], metas[i] = bop, m
		valid = append(valid, i)
	}
	if req.Atomic && len(bad) > 0 {
		for _, i := range valid {
			bad = append(bad, sdk.OpResult{MutationID: req.Ops[i].MutationID, Status: sdk.StatusRejected,
				Message: "not sent: another op of its all-or-nothing group was refused"})
		}
		return sdk.UploadResponse{Results: bad}, nil
	}
	resp.Results = bad
	if len(valid) == 0 {
		return resp, nil
	}
	var sets [][]odata.BatchOp
	if req.Atomic {
		set := make([]odata.BatchOp, 0, len(valid))
		for _, i := range valid {
			set = append(set, ops[i])
		}
		sets = [][]odata.BatchOp{set}
	} else {
		for _, i := range valid {
			sets = append(sets, []odata.BatchOp{ops[i]})
		}
	}
	results, err := c.sendBatch(ctx, sets)
	if err != nil {
		return sdk.UploadResponse{}, err
	}
	k := 0
	for si, set := range results {
		for oi := range set {
			i := valid[k]
			k++
			resp.Results = append(resp.Results, c.result(ctx, metas[i], req.Ops[i], results[si][oi], req.Atomic))
		}
	}
	return resp, nil
}

// batchOp builds the Web API request of one op.
func (c *Connector) batchOp(ctx context.Context, m *entityMeta, op sdk.Op) (odata.BatchOp, error) {
	path := "/api/data/v" + c.cfg.APIVersion + "/" + m.set
	h := http.Header{}
	switch op.Kind {
	case sdk.OpCreate, sdk.OpUpdate:
		body, err := c.body(ctx, m, op)
		if err != nil {
			return odata.BatchOp{}, err
		}
		h.Set("Prefer", "return=representation")
		if op.Kind == sdk.OpCreate {
			return odata.BatchOp{Method: http.MethodPost, URL: path, Header: h, Body: body}, nil
		}
		h.Set("If-Match", ifMatch(op.BaseVersion))
		return odata.BatchOp{Method: http.MethodPatch, URL: path + "(" + op.ID + ")", Header: h, Body: body}, nil
	case sdk.OpDelete:
		h.Set("If-Match", ifMatch(op.BaseVersion))
		return odata.BatchOp{Method: http.MethodDelete, URL: path + "(" + op.ID + ")", Header: h}, nil
	}
	return odata.BatchOp{}, fmt.Errorf("unknown op kind %q", op.Kind)
}

func ifMatch(v string) string {
	if v == "" {
		return "*"
	}
	return v
}

// body is the JSON of a create or update; lookups become @odata.bind.
func (c *Connector) body(ctx context.Context, m *entityMeta, op sdk.Op) ([]byte, error) {
	out := make(map[string]any, len(op.Fields)+1)
	if op.Kind == sdk.OpCreate && op.ID != "" {
		out[m.pk] = op.ID
	}
	for f, v := range op.Fields {
		a, ok := m.attrs[f]
		if !ok {
			return nil, fmt.Errorf("table %s has no column %q", m.logical, f)
		}
		if f == m.pk {
			continue
		}
		if a.typ != sdk.TypeLookup {
			out[f] = v
			continue
		}
		ref, isRef := v.(map[string]any)
		if v == nil || (isRef && ref["id"] == nil) {
			if op.Kind == sdk.OpUpdate {
				out[a.nav(firstTarget(a))+"@odata.bind"] = nil
			}
			continue
		}
		target, id := firstTarget(a), ""
		if isRef {
			if e, _ := ref["entity"].(string); e != "" {
				target = e
			}
			id, _ = ref["id"].(string)
		} else if s, ok := v.(string); ok {
			id = s
		}
		if id == "" {
			return nil, fmt.Errorf("lookup %s must be {\"entity\", \"id\"} or an id", f)
		}
		tm, err := c.entity(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", f, err)
		}
		out[a.nav(target)+"@odata.bind"] = "/" + tm.set + "(" + id + ")"
	}
	return json.Marshal(out)
}

func firstTarget(a *attrMeta) string {
	if len(a.targets) > 0 {
		return a.targets[0]
	}
	return ""
}

// sendBatch posts the change sets and reads the answers.
func (c *Connector) sendBatch(ctx context.Context, sets [][]odata.BatchOp) ([][]odata.BatchResult, error) {
	var body bytes.Buffer
	ct, err := odata.WriteBatch(&body, sets)
	if err != nil {
		return nil, err
	}
	h := odata.Headers()
	h.Set("Content-Type", ct)
	h.Set("Prefer", "odata.continue-on-error")
	raw := body.Bytes()
	resp, err := c.http.Send(ctx, httpx.StreamRequest{Method: http.MethodPost, URL: c.api + "/$batch", Header: h,
		Body: bytes.NewReader(raw), ContentLength: int64(len(raw))})
	if err != nil {
		return nil, odata.SDKError("upload $batch", err)
	}
	defer resp.Body.Close()
	res, err := odata.ReadBatch(resp.Header.Get("Content-Type"), resp.Body, sets)
	if err != nil {
		return nil, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "cannot read the $batch answer", Err: err, Detail: err.Error()}
	}
	return res, nil
}

// result maps one op's answer to its outcome.
func (c *Connector) result(ctx context.Context, m *entityMeta, op sdk.Op, r odata.BatchResult, atomic bool) sdk.OpResult {
	out := sdk.OpResult{MutationID: op.MutationID, ID: op.ID}
	if r.Status >= 200 && r.Status < 300 {
		out.Status = sdk.StatusApplied
		if op.Kind == sdk.OpDelete {
			return out
		}
		if rec, ok := c.decodeRow(m, r.Body); ok {
			out.Record, out.ID = rec, rec.ID
			return out
		}
		return c.withServerRecord(ctx, m, out)
	}
	e := odata.ParseError(r.Status, r.Body)
	switch {
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		out.Status, out.Message, out.RetryAfter = sdk.StatusRetry, e.Error(), odata.RetryAfter(r.Header)
	case r.Status == http.StatusPreconditionFailed && op.Kind == sdk.OpCreate && e.Code == codeDuplicate:
		// A create whose earlier answer was lost: the record is there.
		cur := c.withServerRecord(ctx, m, out)
		if cur.Record != nil {
			cur.Status = sdk.StatusApplied
			return cur
		}
		out.Status, out.Message = sdk.StatusRejected, e.Error()
	case r.Status == http.StatusPreconditionFailed:
		cur := c.withServerRecord(ctx, m, out)
		if cur.Record == nil {
			out.Status, out.Message = sdk.StatusNotFound, e.Error()
			return out
		}
		cur.Status, cur.Message = sdk.StatusConflict, e.Error()
		return cur
	case r.Status == http.StatusNotFound && op.Kind == sdk.OpDelete:
		out.Status = sdk.StatusApplied // already gone
	case r.Status == http.StatusNotFound && op.Kind == sdk.OpCreate && e.Code == codeNotExist:
		out.Status, out.Message = sdk.StatusRejected, e.Error()
		out.MissingLookups = missingLookups(m, op, e.Message)
	case r.Status == http.StatusNotFound:
		if fields := missingLookups(m, op, e.Message); len(fields) > 0 {
			out.Status, out.Message, out.MissingLookups = sdk.StatusRejected, e.Error(), fields
		} else {
			out.Status, out.Message = sdk.StatusNotFound, e.Error()
		}
	default:
		out.Status, out.Message = sdk.StatusRejected, e.Error()
	}
	if atomic && out.Status == sdk.StatusRejected && out.Message == "" {
		out.Message = "the all-or-nothing group failed"
	}
	return out
}

// missingLookups names the lookup fields of op whose target the message
// says does not exist.
func missingLookups(m *entityMeta, op sdk.Op, msg string) []string {
	var out []string
	low := strings.ToLower(msg)
	for f, v := range op.Fields {
		a := m.attrs[f]
		if a == nil || a.typ != sdk.TypeLookup {
			continue
		}
		id := ""
		if ref, ok := v.(map[string]any); ok {
			id, _ = ref["id"].(string)
		} else if s, ok := v.(string); ok {
			id = s
		}
		if id != "" && strings.Contains(low, strings.ToLower(id)) {
			out = append(out, f)
		}
	}
	return out
}

// withServerRecord reads the op's record as the server holds it.
func (c *Connector) withServerRecord(ctx context.Context, m *entityMeta, out sdk.OpResult) sdk.OpResult {
	rec, err := c.get(ctx, m, out.ID)
	if err == nil {
		out.Record = rec
	}
	return out
}

// get reads one record (nil, nil when it does not exist).
func (c *Connector) get(ctx context.Context, m *entityMeta, id string) (*sdk.Record, error) {
	props, _ := m.project(nil)
	u := c.api + "/" + m.set + "(" + id + ")?$select=" + strings.Join(props, ",")
	h := odata.Headers()
	h.Set("Prefer", `odata.include-annotations="`+lookupAnnotation+`"`)
	resp, err := c.http.Stream(ctx, http.MethodGet, u, h)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var row map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&row); err != nil {
		return nil, err
	}
	rec, err := converter{m: m}.record(row)
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

func (c *Connector) decodeRow(m *entityMeta, body []byte) (*sdk.Record, bool) {
	if len(body) == 0 {
		return nil, false
	}
	var row map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&row) != nil {
		return nil, false
	}
	rec, err := converter{m: m}.record(row)
	if err != nil {
		return nil, false
	}
	return &rec, true
}
