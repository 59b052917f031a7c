package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// writeSet is a validated create/update payload.
type writeSet struct {
	vals  map[*column]any
	binds map[*column]*bindTarget
	pk    *uuid.UUID
}

type bindTarget struct {
	t  *table
	id uuid.UUID // zero: clear the lookup
}

func convErr(set string, v any, edm string) *apiError {
	return payloadErr(set, fmt.Sprintf("Cannot convert the literal '%v' to the expected type '%s'.", v, edm))
}

func rangeErr(c *column, logical string, v any) *apiError {
	return newErr(http.StatusBadRequest, codeValidation,
		"A validation error occurred. The value %v of '%s' on record of type '%s' is outside the valid range.", v, c.name, logical)
}

// decodeWrite parses and validates a request body for t.
func (s *Server) decodeWrite(ctx *opCtx, req *apiRequest, t *table, create bool) (*writeSet, *apiError) {
	set := t.def.set
	body := bytes.TrimSpace(req.body)
	if len(body) == 0 {
		return nil, payloadErr(set, "An unexpected 'EndOfInput' node was found when reading from the JSON reader. A 'StartObject' node was expected.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || dec.More() || m == nil {
		return nil, payloadErr(set, "Invalid JSON. A 'StartObject' node was expected, or the payload is not well-formed JSON.")
	}
	ws := &writeSet{vals: map[*column]any{}, binds: map[*column]*bindTarget{}}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := m[k]
		if strings.HasPrefix(k, "@") {
			continue // instance annotations such as @odata.type or @odata.etag
		}
		if prop, ann, isAnn := strings.Cut(k, "@"); isAnn {
			if ann != "odata.bind" {
				if _, declared := m[prop]; declared {
					continue
				}
				if _, isNav := t.def.navs[prop]; isNav {
					continue
				}
				return nil, payloadErr(set, fmt.Sprintf("An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", prop))
			}
			nr, ok := t.def.navs[prop]
			if !ok {
				return nil, payloadErr(set, fmt.Sprintf("An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", prop))
			}
			if create && !nr.col.create || !create && !nr.col.update {
				continue
			}
			if v == nil {
				ws.binds[nr.col] = &bindTarget{}
				continue
			}
			sv, isStr := v.(string)
			if !isStr {
				return nil, payloadErr(set, fmt.Sprintf("The value of the annotation '%s' must be a string containing an entity reference.", k))
			}
			bt, err := s.parseBind(ctx, set, prop, nr, sv)
			if err != nil {
				return nil, err
			}
			ws.binds[nr.col] = bt
			continue
		}
		c, ok := t.def.byProp[k]
		if !ok {
			if _, isNav := t.def.navs[k]; isNav {
				return nil, payloadErr(set, "A 'PrimitiveValue' node with non-null value was found when trying to read the value of a navigation property; however, a 'StartArray' node, a 'StartObject' node, or a 'PrimitiveValue' node with null value was expected.")
			}
			return nil, payloadErr(set, fmt.Sprintf("The property '%s' does not exist on type 'Microsoft.Dynamics.CRM.%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", k, t.def.logical))
		}
		if c.isLookup() {
			return nil, newErr(http.StatusBadRequest, codeQuery, "CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.")
		}
		if c.sys == sysID {
			sv, _ := v.(string)
			id, err := uuid.Parse(sv)
			if err != nil || len(sv) != 36 {
				return nil, convErr(set, v, "Edm.Guid")
			}
			ws.pk = &id
			continue
		}
		if create && !c.create || !create && !c.update {
			continue // read-only columns are ignored, as the service does
		}
		sv, err := s.convertValue(t, c, v)
		if err != nil {
			return nil, err
		}
		ws.vals[c] = sv
	}
	return ws, nil
}

// convertValue checks a JSON value against the column type and returns its
// stored form.
func (s *Server) convertValue(t *table, c *column, v any) (any, *apiError) {
	if v == nil {
		return nil, nil
	}
	set, logical := t.def.set, t.def.logical
	switch c.typ {
	case tString, tMemo, tEntityName:
		sv, ok := v.(string)
		if !ok {
			return nil, convErr(set, v, "Edm.String")
		}
		if c.maxLen > 0 && utf8.RuneCountInString(sv) > c.maxLen {
			return nil, newErr(http.StatusBadRequest, codeValidation,
				"A validation error occurred.  The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed length of '%d'.",
				c.name, logical, c.maxLen)
		}
		if c.typ == tEntityName && s.st.logical[sv] == nil {
			return nil, newErr(http.StatusBadRequest, codeQuery, "The entity with a name = '%s' was not found in the MetadataCache.", sv)
		}
		if c.name == "documentbody" && t.def.logical == "annotation" {
			raw, err := base64.StdEncoding.DecodeString(sv)
			if err != nil {
				return nil, newErr(http.StatusBadRequest, codeValidation, "A validation error occurred. The value of 'documentbody' is not a valid base64 string.")
			}
			if len(raw) > s.opts.MaxUploadFileSize {
				return nil, newErr(http.StatusBadRequest, codeAttachment,
					"The attachment is either not a valid type or is too large. It cannot be uploaded or downloaded.")
			}
		}
		return sv, nil
	case tInteger, tPicklist, tState, tStatus:
		num, ok := v.(json.Number)
		if !ok {
			return nil, convErr(set, v, "Edm.Int32")
		}
		n, err := strconv.ParseInt(string(num), 10, 32)
		if err != nil {
			return nil, convErr(set, v, "Edm.Int32")
		}
		if c.typ == tInteger && (float64(n) < c.min || float64(n) > c.max) {
			return nil, rangeErr(c, logical, n)
		}
		if len(c.options) > 0 {
			if _, ok := c.optionLabel(n); !ok {
				vals := make([]string, len(c.options))
				for i, o := range c.options {
					vals[i] = strconv.Itoa(o.value)
				}
				return nil, newErr(http.StatusBadRequest, codeOptionRange,
					"A validation error occurred. The value %d of '%s' on record of type '%s' is outside the valid range. Accepted Values: %s",
					n, c.name, logical, strings.Join(vals, ","))
			}
		}
		return n, nil
	case tMoney, tDecimal:
		num, ok := v.(json.Number)
		if !ok {
			return nil, convErr(set, v, "Edm.Decimal")
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, convErr(set, v, "Edm.Decimal")
		}
		if f < c.min || f > c.max {
			return nil, rangeErr(c, logical, num)
		}
		return f, nil
	case tBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, convErr(set, v, "Edm.Boolean")
		}
		return b, nil
	case tDateTime:
		sv, _ := v.(string)
		tm, err := time.Parse(time.RFC3339Nano, sv)
		if err != nil {
			return nil, convErr(set, v, "Edm.DateTimeOffset")
		}
		return tm.Unix(), nil
	case tUniqueID:
		sv, _ := v.(string)
		id, err := uuid.Parse(sv)
		if err != nil || len(sv) != 36 {
			return nil, convErr(set, v, "Edm.Guid")
		}
		return id, nil
	}
	return nil, convErr(set, v, edmOf(c))
}

// parseBind resolves an @odata.bind value: "/accounts(<id>)", "accounts(<id>)",
// an absolute URL, or "$n" (Content-ID) inside a change set.
func (s *Server) parseBind(ctx *opCtx, set, nav string, nr navRef, v string) (*bindTarget, *apiError) {
	ref := v
	if strings.HasPrefix(ref, "$") {
		path, ok := ctx.cids[strings.TrimPrefix(ref, "$")]
		if !ok {
			return nil, newErr(http.StatusBadRequest, codeQuery, "Content-ID Reference: '%s' does not exist in the batch context.", ref)
		}
		ref = path
	}
	if i := strings.Index(ref, "/api/data/"); i >= 0 {
		ref = ref[i+len("/api/data/"):]
		if _, after, ok := strings.Cut(ref, "/"); ok {
			ref = after
		}
	}
	ref = strings.TrimPrefix(ref, "/")
	name, keyName, id, hasKey, err := parseKeySegment(ref)
	if err != nil || !hasKey {
		return nil, payloadErr(set, fmt.Sprintf("The value '%s' of the @odata.bind annotation for '%s' is not a valid entity reference.", v, nav))
	}
	tt := s.st.tables[name]
	if tt == nil {
		return nil, newErr(http.StatusBadRequest, codeQuery, "Resource not found for the segment '%s'.", name)
	}
	if keyName != "" && keyName != tt.def.pk {
		return nil, payloadErr(set, fmt.Sprintf("The value '%s' of the @odata.bind annotation for '%s' is not a valid entity reference.", v, nav))
	}
	if tt.def.logical != nr.target {
		return nil, payloadErr(set, fmt.Sprintf("An entity of type 'Microsoft.Dynamics.CRM.%s' cannot be bound to the navigation property '%s', which expects 'Microsoft.Dynamics.CRM.%s'.", tt.def.logical, nav, nr.target))
	}
	return &bindTarget{t: tt, id: id}, nil
}

// write runs fn under the store's write lock unless a change set holds it.
func (s *Server) write(ctx *opCtx, fn func() (*apiResponse, *apiError)) (*apiResponse, *apiError) {
	if ctx.tx == nil {
		s.st.mu.Lock()
		defer s.st.mu.Unlock()
	}
	return fn()
}

// apply copies ws into r (binds are checked for existence) and recomputes
// derived columns.
func (s *Server) apply(t *table, r *row, ws *writeSet, create bool) *apiError {
	for c, v := range ws.vals {
		r.vals[c.idx] = v
	}
	for c, b := range ws.binds {
		if b.t == nil {
			if c.required == "SystemRequired" {
				return newErr(http.StatusBadRequest, codeValidation, "A validation error occurred. The value of '%s' on record of type '%s' cannot be null.", c.name, t.def.logical)
			}
			r.vals[c.idx] = nil
			continue
		}
		if b.t.rows[b.id] == nil {
			return notExistErr(b.t.def.logical, b.id.String())
		}
		r.vals[c.idx] = ref{id: b.id, t: b.t}
	}
	s.derive(t, r, ws, create)
	return nil
}

// derive maintains the columns the platform computes.
func (s *Server) derive(t *table, r *row, ws *writeSet, create bool) {
	d := t.def
	str := func(name string) string {
		c := d.byName[name]
		if c == nil || c.idx < 0 {
			return ""
		}
		v, _ := r.vals[c.idx].(string)
		return v
	}
	if c := d.byName["fullname"]; c != nil && c.idx >= 0 {
		r.vals[c.idx] = strings.TrimSpace(str("firstname") + " " + str("lastname"))
	}
	if c := d.byName["owningbusinessunit"]; c != nil {
		if o, ok := r.vals[d.byName["ownerid"].idx].(ref); ok {
			if u := o.t.rows[o.id]; u != nil {
				r.vals[c.idx] = u.vals[o.t.def.byName["businessunitid"].idx]
			}
		}
	}
	if d.logical == "annotation" {
		body := d.byName["documentbody"]
		if _, set := ws.vals[body]; set || create {
			doc := str("documentbody")
			size := int64(base64.StdEncoding.DecodedLen(len(doc)) - strings.Count(doc, "="))
			r.vals[d.byName["filesize"].idx] = size
			if _, explicit := ws.vals[d.byName["isdocument"]]; !explicit || doc != "" {
				r.vals[d.byName["isdocument"].idx] = doc != ""
			}
		}
		obj := d.byName["objectid"]
		if b, ok := ws.binds[obj]; ok {
			if b.t != nil {
				r.vals[d.byName["objecttypecode"].idx] = b.t.def.logical
			} else {
				r.vals[d.byName["objecttypecode"].idx] = nil
			}
		}
	}
}

// newRow returns a row with the platform defaults (owner = calling user).
func (s *Server) newRow(t *table, id uuid.UUID, now int64) *row {
	r := &row{id: id, created: now, modified: now, vals: make([]any, t.def.nvals)}
	for _, c := range t.def.cols {
		if c.idx < 0 {
			continue
		}
		switch {
		case c.typ == tState || c.typ == tStatus:
			r.vals[c.idx] = int64(c.options[0].value)
		case c.typ == tOwner:
			r.vals[c.idx] = ref{id: s.appUser, t: s.st.logical["systemuser"]}
		case c.typ == tBoolean:
			r.vals[c.idx] = false
		}
	}
	return r
}

func entityPath(t *table, id uuid.UUID) string { return t.def.set + "(" + id.String() + ")" }

// writeResult renders the answer of a create or update.
func (s *Server) writeResult(req *apiRequest, t *table, r *row, created bool) (*apiResponse, *apiError) {
	loc := req.api() + "/" + entityPath(t, r.id)
	if !req.pref.returnRepr {
		resp := newResponse(http.StatusNoContent)
		resp.header.Set("Location", loc)
		resp.header.Set("OData-EntityId", loc)
		return resp, nil
	}
	cols, names, err := parseSelect(t, req.query.Get("$select"))
	if err != nil {
		return nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	body := append(obj{{"@odata.context", contextURL(req, t.def.set, names) + "/$entity"}}, s.rowObj(t, r, cols, req.pref)...)
	resp := jsonResponse(status, body)
	resp.header.Set("Location", loc)
	resp.header.Set("OData-EntityId", loc)
	resp.header.Set("ETag", etagOf(r))
	resp.header.Set("Preference-Applied", "return=representation")
	return resp, nil
}

func duplicateErr() *apiError {
	return newErr(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists.")
}

func (s *Server) create(ctx *opCtx, req *apiRequest, t *table) (*apiResponse, *apiError) {
	if err := checkOptions(req, "$select"); err != nil {
		return nil, err
	}
	ws, err := s.decodeWrite(ctx, req, t, true)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, func() (*apiResponse, *apiError) {
		id := uuid.New()
		if ws.pk != nil {
			id = *ws.pk
			if t.rows[id] != nil {
				return nil, duplicateErr()
			}
		}
		r := s.newRow(t, id, s.now().Unix())
		if err := s.apply(t, r, ws, true); err != nil {
			return nil, err
		}
		s.st.save(ctx.tx, t, r, true)
		return s.writeResult(req, t, r, true)
	})
}

// patch is an upsert: If-Match: * forbids the create, If-None-Match: *
// forbids the update, If-Match: W/"n" demands that version.
func (s *Server) patch(ctx *opCtx, req *apiRequest, t *table, id uuid.UUID) (*apiResponse, *apiError) {
	if err := checkOptions(req, "$select"); err != nil {
		return nil, err
	}
	ws, err := s.decodeWrite(ctx, req, t, false)
	if err != nil {
		return nil, err
	}
	if ws.pk != nil && *ws.pk != id {
		return nil, payloadErr(t.def.set, "The key value in the payload does not match the key value in the request URI.")
	}
	ifMatch, ifNone := strings.TrimSpace(req.header.Get("If-Match")), strings.TrimSpace(req.header.Get("If-None-Match"))
	return s.write(ctx, func() (*apiResponse, *apiError) {
		prev := t.rows[id]
		switch {
		case ifMatch != "" && prev == nil:
			return nil, notExistErr(t.def.logical, id.String())
		case ifMatch != "" && !etagMatches(ifMatch, prev):
			return nil, newErr(http.StatusPreconditionFailed, codeConcurrency, "The version of the existing record doesn't match the RowVersion property provided.")
		case ifNone == "*" && prev != nil:
			return nil, duplicateErr()
		}
		now := s.now().Unix()
		var r *row
		if prev == nil {
			// an upsert that creates validates like a create
			cws, cerr := s.decodeWrite(ctx, req, t, true)
			if cerr != nil {
				return nil, cerr
			}
			ws = cws
			r = s.newRow(t, id, now)
		} else {
			r = prev.clone()
			r.modified = now
		}
		if err := s.apply(t, r, ws, prev == nil); err != nil {
			return nil, err
		}
		s.st.save(ctx.tx, t, r, true)
		return s.writeResult(req, t, r, prev == nil)
	})
}

func (s *Server) deleteOne(ctx *opCtx, req *apiRequest, t *table, id uuid.UUID) (*apiResponse, *apiError) {
	if err := checkOptions(req); err != nil {
		return nil, err
	}
	if t.def.logical == "systemuser" || t.def.logical == "businessunit" {
		return nil, newErr(http.StatusBadRequest, "0x80040800", "The 'Delete' method does not support entities of type '%s'.", t.def.logical)
	}
	ifMatch := strings.TrimSpace(req.header.Get("If-Match"))
	return s.write(ctx, func() (*apiResponse, *apiError) {
		r := t.rows[id]
		if r == nil {
			return nil, notExistErr(t.def.logical, id.String())
		}
		if ifMatch != "" && !etagMatches(ifMatch, r) {
			return nil, newErr(http.StatusPreconditionFailed, codeConcurrency, "The version of the existing record doesn't match the RowVersion property provided.")
		}
		s.deleteCascade(ctx.tx, t, id)
		return newResponse(http.StatusNoContent), nil
	})
}

// deleteCascade removes id and applies the relationship behaviours: notes
// (objectid) and contacts of an account (parentcustomerid) are deleted with
// their parent; other lookups to the row are cleared (RemoveLink), which is
// an update of the referencing row.
func (s *Server) deleteCascade(tx *txn, t *table, id uuid.UUID) {
	if !s.st.remove(tx, t, id) {
		return
	}
	deps := slices.Clone(s.st.refs[id])
	slices.SortFunc(deps, func(a, b backRef) int {
		if a.t != b.t {
			return slices.Index(s.st.list, a.t) - slices.Index(s.st.list, b.t)
		}
		if a.col != b.col {
			return strings.Compare(a.col.name, b.col.name)
		}
		return cmpID(a.id, b.id)
	})
	now := s.now().Unix()
	for _, d := range deps {
		r := d.t.rows[d.id]
		if r == nil {
			continue
		}
		if rf, ok := r.vals[d.col.idx].(ref); !ok || rf.id != id || rf.t != t {
			continue
		}
		if d.col.name == "objectid" || d.col.name == "parentcustomerid" {
			s.deleteCascade(tx, d.t, d.id)
			continue
		}
		nr := r.clone()
		nr.vals[d.col.idx] = nil
		nr.modified = now
		s.st.save(tx, d.t, nr, true)
	}
}
