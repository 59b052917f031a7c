package dynamicscrm

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

const lookupAnnotation = "Microsoft.Dynamics.CRM.lookuplogicalname"

// fullMarker is a full pass's resume point.
type fullMarker struct {
	Next  string `json:"n"`
	Delta string `json:"d,omitempty"`
}

// Fetch runs a full or an incremental pass over a table.
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
	pager := &odata.Pager{Client: c.http, MaxPageSize: size, Annotations: lookupAnnotation}
	conv := converter{m: m, fields: req.Fields}

	if req.Incremental {
		if req.Cursor == "" {
			return &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: req.Entity, Summary: "incremental fetch without a cursor"}
		}
		return c.pages(ctx, pager, req.Cursor, conv, func(pg *sdk.Page, info odata.PageInfo) {
			pg.Deleted = info.Deleted
			pg.Cursor, pg.Done = info.NextLink, info.NextLink == ""
			if pg.Done {
				pg.Cursor = info.DeltaLink
			}
		}, send)
	}

	var mk fullMarker
	if req.Cursor != "" {
		if err := json.Unmarshal([]byte(req.Cursor), &mk); err != nil || mk.Next == "" {
			return sdk.ErrCursorExpired // not a marker this connector wrote: start over
		}
	} else {
		q := url.Values{}
		q.Set("$select", strings.Join(props, ","))
		f, err := odataFilter(m, req)
		if err != nil {
			return err
		}
		if f != "" {
			q.Set("$filter", f)
		}
		mk.Next = c.api + "/" + m.set + "?" + encodeQuery(q)
		if m.tracking {
			if f == "" {
				pager.TrackChanges = true
			} else if mk.Delta, err = c.deltaLink(ctx, m, size); err != nil {
				return err
			}
		}
	}
	// A resumed pass without a filter asked for change tracking when it
	// started; its next links carry that, and its last page the delta link.
	if req.Cursor != "" && mk.Delta == "" && m.tracking {
		pager.TrackChanges = true
	}
	return c.pages(ctx, pager, mk.Next, conv, func(pg *sdk.Page, info odata.PageInfo) {
		delta := mk.Delta
		if info.DeltaLink != "" {
			delta = info.DeltaLink
		}
		if info.NextLink == "" {
			pg.Done, pg.Cursor = true, delta
			return
		}
		b, _ := json.Marshal(fullMarker{Next: info.NextLink, Delta: mk.Delta})
		pg.Cursor = string(b)
	}, send)
}

func odataFilter(m *entityMeta, req sdk.FetchRequest) (string, error) {
	f, err := odata.Filter(req.Filter, m.dialect())
	if err != nil {
		return "", &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: req.Entity, Summary: "cannot translate the filter", Detail: err.Error()}
	}
	return f, nil
}

// encodeQuery encodes OData query options, keeping `$` and `,` readable.
func encodeQuery(q url.Values) string {
	s := q.Encode()
	return strings.NewReplacer("%24", "$", "%2C", ",").Replace(s)
}

// deltaLink takes a change-tracking link for the present by paging a
// track-changes request that selects only the key.
func (c *Connector) deltaLink(ctx context.Context, m *entityMeta, size int) (string, error) {
	p := &odata.Pager{Client: c.http, MaxPageSize: size, TrackChanges: true}
	next := c.api + "/" + m.set + "?$select=" + m.pk
	for {
		info, err := p.Page(ctx, next, func(map[string]any) error { return nil })
		if err != nil {
			return "", c.fetchError(m, err)
		}
		if info.NextLink == "" {
			if info.DeltaLink == "" {
				return "", &sdk.Error{Code: sdk.CodeBadResponse, Entity: m.logical, Summary: "change tracking gave no delta link"}
			}
			return info.DeltaLink, nil
		}
		next = info.NextLink
	}
}

// pages follows next links from first, sending one sdk.Page per page.
func (c *Connector) pages(ctx context.Context, p *odata.Pager, first string, conv converter,
	finish func(*sdk.Page, odata.PageInfo), send func(sdk.Page) error) error {
	next := first
	for next != "" {
		var pg sdk.Page
		info, err := p.Page(ctx, next, func(row map[string]any) error {
			rec, err := conv.record(row)
			if err != nil {
				return err
			}
			pg.Records = append(pg.Records, rec)
			return nil
		})
		if err != nil {
			return c.fetchError(conv.m, err)
		}
		finish(&pg, info)
		if err := send(pg); err != nil {
			return err
		}
		if pg.Done {
			return nil
		}
		next = info.NextLink
	}
	return nil
}

// fetchError names the table and recognises an expired delta token.
func (c *Connector) fetchError(m *entityMeta, err error) error {
	var se *httpx.StatusError
	if errors.As(err, &se) && se.StatusCode == 400 {
		e := odata.ParseError(se.StatusCode, se.Body)
		if e.Code == "0x80044352" || strings.Contains(e.Message, "expired") {
			return sdk.ErrCursorExpired
		}
	}
	e := odata.SDKError("fetch "+m.logical, err)
	var sdkErr *sdk.Error
	if errors.As(e, &sdkErr) && sdkErr.Entity == "" {
		sdkErr.Entity = m.logical
	}
	return e
}

// converter turns Web API rows into records.
type converter struct {
	m      *entityMeta
	fields []string
}

func (cv converter) record(row map[string]any) (sdk.Record, error) {
	m := cv.m
	id, _ := row[m.pk].(string)
	if id == "" {
		return sdk.Record{}, &sdk.Error{Code: sdk.CodeBadResponse, Entity: m.logical, Summary: "row without its key " + m.pk}
	}
	rec := sdk.Record{ID: strings.ToLower(id), Fields: map[string]any{}}
	rec.Version, _ = row["@odata.etag"].(string)
	if s, ok := row["modifiedon"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			rec.ModifiedAt = t.UTC()
		}
	}
	fields := cv.fields
	if len(fields) == 0 {
		fields = m.order
	}
	for _, f := range fields {
		a := m.attrs[f]
		if a == nil || f == m.pk {
			continue
		}
		if a.typ != sdk.TypeLookup {
			rec.Fields[f] = row[f]
			continue
		}
		v, _ := row[a.prop()].(string)
		if v == "" {
			rec.Fields[f] = nil
			continue
		}
		target, _ := row[a.prop()+"@"+lookupAnnotation].(string)
		if target == "" && len(a.targets) > 0 {
			target = a.targets[0]
		}
		rec.Fields[f] = map[string]any{"entity": target, "id": strings.ToLower(v)}
	}
	return rec, nil
}
