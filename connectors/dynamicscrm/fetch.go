package dynamicscrm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// lookupAnnotation names a lookup value's target table.
const lookupAnnotation = "Microsoft.Dynamics.CRM.lookuplogicalname"

// Dataverse error codes the fetch path branches on.
const codeExpiredVersion = "0x80044352" // ExpiredVersionStamp: the delta token is too old

// hydrateChunk is how many ids one by-id read asks for (an or-chain of
// GUIDs; Dataverse has no `in`), keeping URLs far below the service's limit.
const hydrateChunk = 50

// fullCursor is a full pass's resume point, as JSON. Next is the nextLink
// to resume at; Track says the pass itself tracks changes (its pages must
// keep asking for it, and its last page carries the delta link); Delta is
// the delta link taken before a filtered pass.
type fullCursor struct {
	Next  string `json:"next"`
	Delta string `json:"delta,omitempty"`
	Track bool   `json:"track,omitempty"`
}

// Fetch runs a full or an incremental pass over a table (see the package
// comment for the cursors).
func (c *Connector) Fetch(ctx context.Context, req sdk.FetchRequest, send func(sdk.Page) error) error {
	m, err := c.entity(ctx, req.Entity)
	if err != nil {
		return err
	}
	props, err := m.project(req.Fields)
	if err != nil {
		return err
	}
	size := c.cfg.PageSize
	if req.PageSize > 0 && req.PageSize < size {
		size = req.PageSize
	}
	conv := converter{m: m, fields: req.Fields}
	conv.raw = conv.rawPlan()
	p := pass{c: c, m: m, props: props, conv: conv, size: size, send: send}
	if req.Incremental {
		return p.changes(ctx, req.Cursor)
	}
	return p.full(ctx, req)
}

// pass is one Fetch call's state.
type pass struct {
	c     *Connector
	m     *entityMeta
	props []string
	conv  converter
	size  int
	send  func(sdk.Page) error
	// sent is the receiver's error, returned as is.
	sent error
}

// emit hands a page to the receiver.
func (p *pass) emit(pg sdk.Page) error {
	if err := p.send(pg); err != nil {
		p.sent = err
		return err
	}
	return nil
}

func (p *pass) full(ctx context.Context, req sdk.FetchRequest) error {
	var cur fullCursor
	if req.Cursor != "" {
		if json.Unmarshal([]byte(req.Cursor), &cur) != nil || !p.c.ours(cur.Next) || (cur.Delta != "" && !p.c.ours(cur.Delta)) {
			return p.expired("the full pass's resume cursor is not one this connector made for " + p.c.cfg.URL)
		}
	} else {
		f, err := p.m.filter(req.Filter)
		if err != nil {
			return err
		}
		cur.Next = odata.Query{Select: p.props, Filter: f}.URL(p.c.api + "/" + p.m.set)
		switch {
		case p.m.tracking && f == "":
			cur.Track = true
		case p.m.tracking:
			// Dataverse refuses $filter with change tracking: take the
			// delta link first, so changes made during the pass are not
			// missed (DESIGN §7).
			if cur.Delta, err = p.deltaLinkNow(ctx); err != nil {
				return err
			}
		}
	}
	var recs []sdk.Record
	pager := p.c.pager(p.size, cur.Track)
	err := pager.EachRaw(ctx, cur.Next, func(row json.RawMessage) error {
		r, err := p.conv.rawRecord(row)
		if err == nil {
			recs = append(recs, r)
		}
		return err
	}, func(info odata.PageInfo) error {
		pg := sdk.Page{Records: recs}
		recs = nil
		if info.NextLink != "" {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // keep the links' "&" readable
			if err := enc.Encode(fullCursor{Next: info.NextLink, Delta: cur.Delta, Track: cur.Track}); err != nil {
				return err
			}
			pg.Cursor = strings.TrimSpace(b.String())
			return p.emit(pg)
		}
		pg.Done, pg.Cursor = true, cur.Delta
		if cur.Track {
			pg.Cursor = info.DeltaLink
			if pg.Cursor == "" {
				p.c.log.Warn("a change-tracking pass ended without a delta link; the next pass will be full", "entity", p.m.logical)
			}
		}
		return p.emit(pg)
	})
	return p.fetchError(err, req.Cursor != "")
}

// changes runs an incremental pass from a delta link (or a delta page's
// nextLink): changed rows become records, `$deletedEntity` rows deletions.
// A delta link taken by deltaLinkNow selects only the key: its rows are
// read again, by id, with the projection.
func (p *pass) changes(ctx context.Context, cursor string) error {
	if cursor == "" {
		return &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: p.m.logical, Summary: "an incremental pass needs a cursor"}
	}
	if !p.c.ours(cursor) {
		return p.expired("the cursor is not a delta link of " + p.c.cfg.URL)
	}
	var recs []sdk.Record
	var bare []string
	pager := p.c.pager(p.size, false)
	err := pager.Each(ctx, cursor, func(row odata.Row) error {
		if !p.complete(row) {
			if id, _ := row[p.m.pk].(string); isGUID(id) {
				bare = append(bare, strings.ToLower(id))
			}
			return nil
		}
		r, err := p.conv.record(row)
		if err == nil {
			recs = append(recs, r)
		}
		return err
	}, func(info odata.PageInfo) error {
		if len(bare) > 0 {
			more, err := p.byID(ctx, bare)
			if err != nil {
				return err
			}
			recs, bare = append(recs, more...), nil
		}
		pg := sdk.Page{Records: recs, Cursor: info.NextLink}
		recs = nil
		for _, id := range info.Deleted {
			pg.Deleted = append(pg.Deleted, strings.ToLower(id))
		}
		if info.NextLink == "" {
			if info.DeltaLink == "" {
				return &sdk.Error{Code: sdk.CodeBadResponse, Entity: p.m.logical, Summary: "a change-tracking answer ended without a delta link"}
			}
			pg.Done, pg.Cursor = true, info.DeltaLink
		}
		return p.emit(pg)
	})
	return p.fetchError(err, true)
}

// complete reports whether a row carries every projected property (the
// service sends selected columns even when null).
func (p *pass) complete(row odata.Row) bool {
	for _, prop := range p.props {
		if _, ok := row[prop]; !ok {
			return false
		}
	}
	return true
}

// byID reads rows by key with the projection; a row deleted meanwhile is
// simply absent (the next delta reports its deletion).
func (p *pass) byID(ctx context.Context, ids []string) ([]sdk.Record, error) {
	var out []sdk.Record
	pager := p.c.pager(MaxPageSize, false)
	for len(ids) > 0 {
		n := min(len(ids), hydrateChunk)
		terms := make([]string, n)
		for i, id := range ids[:n] {
			terms[i] = p.m.pk + " eq " + id
		}
		ids = ids[n:]
		link := odata.Query{Select: p.props, Filter: strings.Join(terms, " or ")}.URL(p.c.api + "/" + p.m.set)
		err := pager.Each(ctx, link, func(row odata.Row) error {
			r, err := p.conv.record(row)
			if err == nil {
				out = append(out, r)
			}
			return err
		}, func(odata.PageInfo) error { return nil })
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deltaLinkNow takes a delta link for the present: a track-changes read
// of the keys alone (one request per 5000 rows), whose last page carries
// it.
func (p *pass) deltaLinkNow(ctx context.Context) (string, error) {
	pager := p.c.pager(MaxPageSize, true)
	pager.Prefer.Annotations = ""
	var delta string
	err := pager.Each(ctx, odata.Query{Select: []string{p.m.pk}}.URL(p.c.api+"/"+p.m.set),
		func(odata.Row) error { return nil },
		func(info odata.PageInfo) error { delta = info.DeltaLink; return nil })
	if err != nil {
		return "", p.fetchError(err, false)
	}
	if delta == "" {
		return "", &sdk.Error{Code: sdk.CodeBadResponse, Entity: p.m.logical, Summary: "a change-tracking read of the keys gave no delta link"}
	}
	return delta, nil
}

func (p *pass) expired(why string) error {
	return &sdk.Error{Code: sdk.CodeCursorExpired, Entity: p.m.logical, Summary: "cursor expired", Detail: why}
}

// fetchError names the table and, when the pass started from a cursor,
// turns the service's refusal of it (a delta token expired:
// ExpiredVersionStamp, or a delta token or paging cookie no longer valid)
// into ErrCursorExpired, so the host starts over with a full pass.
func (p *pass) fetchError(err error, fromCursor bool) error {
	if err == nil || err == p.sent {
		return err
	}
	var sdkErr *sdk.Error
	if errors.As(err, &sdkErr) {
		return err
	}
	var se *httpx.StatusError
	if fromCursor && errors.As(err, &se) && (se.StatusCode == http.StatusBadRequest || se.StatusCode == http.StatusGone) {
		e := odata.ParseError(se.StatusCode, se.Body)
		msg := strings.ToLower(e.Message)
		if se.StatusCode == http.StatusGone || e.Code == codeExpiredVersion ||
			strings.Contains(msg, "deltatoken") || strings.Contains(msg, "skiptoken") || strings.Contains(msg, "full sync") {
			return p.expired("the service no longer accepts the cursor: " + e.Error())
		}
	}
	e := p.c.callError("fetch "+p.m.logical, err)
	if errors.As(e, &sdkErr) && sdkErr.Entity == "" {
		sdkErr.Entity = p.m.logical
	}
	return e
}

// ours reports whether link is an absolute URL on the configured
// organization: a cursor of another organization (the config changed) is
// expired rather than followed.
func (c *Connector) ours(link string) bool {
	u, err := url.Parse(link)
	return err == nil && u.IsAbs() && strings.EqualFold(u.Scheme+"://"+u.Host, c.cfg.URL)
}

// pager reads pages of at most size rows, asking for the lookups' target
// table names.
func (c *Connector) pager(size int, track bool) *odata.Pager {
	return &odata.Pager{Client: c.http,
		Prefer: odata.Prefer{MaxPageSize: size, TrackChanges: track, Annotations: lookupAnnotation},
		Header: http.Header{"If-None-Match": {"null"}}} // the Web API's advice: never a cached answer
}

// ListIDs lists the keys of a table's rows that match the filter, for the
// host's reconciliation of tables without change tracking.
func (c *Connector) ListIDs(ctx context.Context, req sdk.ListIDsRequest, send func(ids []string) error) error {
	m, err := c.entity(ctx, req.Entity)
	if err != nil {
		return err
	}
	f, err := m.filter(req.Filter)
	if err != nil {
		return err
	}
	var ids []string
	pager := c.pager(MaxPageSize, false)
	pager.Prefer.Annotations = ""
	err = pager.Each(ctx, odata.Query{Select: []string{m.pk}, Filter: f}.URL(c.api+"/"+m.set), func(row odata.Row) error {
		if id, _ := row[m.pk].(string); id != "" {
			ids = append(ids, strings.ToLower(id))
		}
		return nil
	}, func(odata.PageInfo) error {
		batch := ids
		ids = nil
		return send(batch)
	})
	if err != nil {
		return (&pass{c: c, m: m}).fetchError(err, false)
	}
	return nil
}

// converter turns Web API rows into records.
type converter struct {
	m      *entityMeta
	fields []string // empty: every column
	raw    *rawPlan // for rawRecord
}

// record converts a decoded row (delta pages, reads by id, write
// answers) as rawRecord converts a row as sent, with Fields set too.
func (cv converter) record(row odata.Row) (sdk.Record, error) {
	raw, err := json.Marshal(row)
	if err != nil {
		return sdk.Record{}, &sdk.Error{Code: sdk.CodeBadResponse, Entity: cv.m.logical, Summary: "a row that is not JSON", Detail: err.Error()}
	}
	rec, err := cv.rawRecord(raw)
	if err != nil {
		return rec, err
	}
	rec.Fields, err = rec.FieldMap()
	return rec, err
}

// rawPlan says where each property of a row goes in a record's fields
// JSON: rawRecord writes that JSON straight from the row the service
// sent, without decoding the values into a map and encoding them again.
type rawPlan struct {
	cols  []rawCol       // the record's fields, by name
	props map[string]int // Web API property -> index in cols
	anns  map[string]int // a lookup's lookuplogicalname annotation -> index in cols
}

// rawCol is a field of the record: its `"name":` and, for a lookup, its
// column (other values pass through as the service sent them).
type rawCol struct {
	key    []byte
	lookup *attrMeta
}

func (cv converter) rawPlan() *rawPlan {
	fields := cv.fields
	if len(fields) == 0 {
		fields = cv.m.order
	}
	fields = slices.Clone(fields)
	slices.Sort(fields) // the order json.Marshal gives a map
	p := &rawPlan{props: map[string]int{}, anns: map[string]int{}}
	for _, f := range slices.Compact(fields) {
		a := cv.m.attrs[f]
		if a == nil || f == cv.m.pk {
			continue
		}
		key, _ := json.Marshal(f)
		col := rawCol{key: append(key, ':')}
		i := len(p.cols)
		if a.typ == sdk.TypeLookup {
			col.lookup = a
			p.anns[a.prop()+"@"+lookupAnnotation] = i
		}
		p.props[a.prop()] = i
		p.cols = append(p.cols, col)
	}
	return p
}

// rawRecord converts a row as the service sent it: id = the key (lower
// case), version = @odata.etag, modified = modifiedon, and the fields as
// JSON (Raw) in the order json.Marshal would write them, values as the
// service wrote them, lookups under their logical name as
// {"entity": <target table>, "id": <guid>}.
func (cv converter) rawRecord(row json.RawMessage) (sdk.Record, error) {
	p := cv.raw
	if p == nil && len(cv.fields) == 0 {
		if p = cv.m.full.Load(); p == nil {
			p = cv.rawPlan()
			cv.m.full.Store(p)
		}
	}
	if p == nil {
		p = cv.rawPlan()
	}
	vals := make([]string, len(p.cols)) // "" = absent from the row
	targets := make([]string, len(p.cols))
	if len(row) == 0 {
		return sdk.Record{}, &sdk.Error{Code: sdk.CodeBadResponse, Entity: cv.m.logical, Summary: "an empty row"}
	}
	var id, etag, modified string
	// A view of row, not a copy (gjson.ParseBytes copies): what is kept
	// from it is copied out before the call returns (the fields into Raw,
	// the id and version by strings.Clone), so a caller may reuse row.
	gjson.Parse(unsafe.String(&row[0], len(row))).ForEach(func(k, v gjson.Result) bool {
		if i, ok := p.props[k.Str]; ok {
			vals[i] = v.Raw
		}
		if i, ok := p.anns[k.Str]; ok && v.Type == gjson.String {
			targets[i] = v.Str
		}
		switch k.Str {
		case cv.m.pk:
			if v.Type == gjson.String {
				id = v.Str
			}
		case "@odata.etag":
			etag = v.Str
		case "modifiedon":
			modified = v.Str
		}
		return true
	})
	if id == "" {
		return sdk.Record{}, &sdk.Error{Code: sdk.CodeBadResponse, Entity: cv.m.logical, Summary: "a row without its key " + cv.m.pk}
	}
	rec := sdk.Record{ID: strings.Clone(strings.ToLower(id)), Version: strings.Clone(etag)}
	if t, err := time.Parse(time.RFC3339Nano, modified); err == nil {
		rec.ModifiedAt = t.UTC()
	}
	buf := make([]byte, 0, len(row)+16*len(p.cols))
	buf = append(buf, '{')
	for i, c := range p.cols {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, c.key...)
		switch {
		case c.lookup != nil:
			buf = appendLookup(buf, c.lookup, vals[i], targets[i])
		case vals[i] == "":
			buf = append(buf, "null"...)
		default:
			buf = append(buf, vals[i]...)
		}
	}
	rec.Raw = append(buf, '}')
	return rec, nil
}

// appendLookup writes a lookup's value: null, or {"entity", "id"} with
// the target table from the lookuplogicalname annotation (the only way to
// know it for a customer or owner lookup), else the only target. raw is
// the `_x_value` property as JSON.
func appendLookup(buf []byte, a *attrMeta, raw, target string) []byte {
	v := gjson.Parse(raw)
	if v.Type != gjson.String || v.Str == "" {
		return append(buf, "null"...)
	}
	if target == "" && len(a.targets) > 0 {
		target = a.targets[0]
	}
	buf = appendJSONString(append(buf, `{"entity":`...), target)
	buf = appendJSONString(append(buf, `,"id":`...), strings.ToLower(v.Str))
	return append(buf, '}')
}

// appendJSONString appends s as json.Marshal writes a string. The
// connector's own strings (table and column names, GUIDs, @odata.bind
// paths) need no escaping and are copied between quotes, without
// json.Marshal's reflection on a hot path; any other goes through it.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		// json.Marshal escapes these, and control and non-ASCII bytes are
		// left to it.
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(buf, q...)
		}
	}
	return append(append(append(buf, '"'), s...), '"')
}
