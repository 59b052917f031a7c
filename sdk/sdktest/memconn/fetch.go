package memconn

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
)

// Fetch serves full and incremental passes (see the package comment for the
// cursors).
func (m *Connector) Fetch(_ context.Context, req sdk.FetchRequest, send func(sdk.Page) error) error {
	e, err := m.entity(req.Entity)
	if err != nil {
		return err
	}
	fields, err := projection(e.Schema, req.Fields)
	if err != nil {
		return err
	}
	size := m.pageSize(req.PageSize)
	if req.Incremental {
		return m.fetchChanges(e.Schema, req.Cursor, fields, size, send)
	}
	return m.fetchAll(e.Schema, req, fields, size, send)
}

// fetchAll walks the entity in id order, one page per lock, as a paged API
// does: writes between pages land in the pass or in the next incremental one.
func (m *Connector) fetchAll(e sdk.EntitySchema, req sdk.FetchRequest, fields []string, size int, send func(sdk.Page) error) error {
	start, after, err := parseFullCursor(e.Name, req.Cursor)
	if err != nil {
		return err
	}
	if req.Cursor == "" {
		// The cursor the pass ends with is taken before it starts (DESIGN §7).
		m.mu.Lock()
		start = m.st.version
		m.mu.Unlock()
	}
	for page := 0; ; page++ {
		if _, err := m.trip("fetch", page); err != nil {
			return err
		}
		m.mu.Lock()
		recs, last, more, err := m.st.table(e.Name).scan(after, size, fields, req.Filter)
		m.mu.Unlock()
		if err != nil {
			return &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: e.Name, Summary: "cannot evaluate the filter", Err: err}
		}
		pg := sdk.Page{Records: recs, Cursor: fmt.Sprintf("full:%d:%s", start, last)}
		if !more {
			pg.Cursor, pg.Done = strconv.FormatInt(start, 10), true
		}
		if err := send(pg); err != nil || pg.Done {
			return err
		}
		after = last
	}
}

// scan returns up to size records after id "after" that match f, the last id
// it looked at, and whether ids remain.
func (t *table) scan(after string, size int, fields []string, f filter.Expr) (recs []sdk.Record, last string, more bool, err error) {
	i := sort.Search(len(t.ids), func(i int) bool { return t.ids[i] > after })
	last = after
	for ; i < len(t.ids) && len(recs) < size; i++ {
		last = t.ids[i]
		r := t.rows[last]
		ok, err := match(f, r.fields)
		if err != nil {
			return nil, "", false, err
		}
		if ok {
			recs = append(recs, r.record(last, fields))
		}
	}
	return recs, last, i < len(t.ids), nil
}

// fetchChanges serves the change log after the cursor's version: each
// changed record once, in its latest state, and deletions inline when the
// entity reports them so.
func (m *Connector) fetchChanges(e sdk.EntitySchema, cursor string, fields []string, size int, send func(sdk.Page) error) error {
	since, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil {
		return expired(e.Name, cursor)
	}
	m.mu.Lock()
	t := m.st.table(e.Name)
	var pages []sdk.Page
	var pg sdk.Page
	for _, c := range m.st.changesSince(e.Name, since) {
		switch {
		case !c.deleted:
			pg.Records = append(pg.Records, t.rows[c.id].record(c.id, fields))
		case e.Deletes == sdk.DeletesInline:
			pg.Deleted = append(pg.Deleted, c.id)
		default:
			continue // reported by Deletions (feed) or found by ListIDs (none)
		}
		pg.Cursor = strconv.FormatInt(c.version, 10)
		if len(pg.Records) == size {
			pages, pg = append(pages, pg), sdk.Page{}
		}
	}
	// A cursor from the future stays where it is rather than going back.
	pg.Cursor, pg.Done = strconv.FormatInt(max(since, m.st.version), 10), true
	pages = append(pages, pg)
	m.mu.Unlock()
	for i, pg := range pages {
		if _, err := m.trip("fetch", i); err != nil {
			return err
		}
		if err := send(pg); err != nil {
			return err
		}
	}
	return nil
}

// Deletions reports the ids deleted since the cursor's version.
func (m *Connector) Deletions(_ context.Context, req sdk.DeletionsRequest, send func(sdk.DeletionPage) error) error {
	if _, err := m.entity(req.Entity); err != nil {
		return err
	}
	if _, err := m.trip("deletions", 0); err != nil {
		return err
	}
	since := int64(-1) // cursor "": start tracking now
	if req.Cursor != "" {
		var err error
		if since, err = strconv.ParseInt(req.Cursor, 10, 64); err != nil {
			return expired(req.Entity, req.Cursor)
		}
	}
	m.mu.Lock()
	pg := sdk.DeletionPage{Cursor: strconv.FormatInt(max(since, m.st.version), 10), Done: true}
	if since >= 0 {
		for _, c := range m.st.changesSince(req.Entity, since) {
			if c.deleted {
				pg.IDs = append(pg.IDs, c.id)
			}
		}
	}
	m.mu.Unlock()
	return send(pg)
}

// ListIDs lists the ids of the records that match the filter.
func (m *Connector) ListIDs(_ context.Context, req sdk.ListIDsRequest, send func([]string) error) error {
	if _, err := m.entity(req.Entity); err != nil {
		return err
	}
	if _, err := m.trip("list_ids", 0); err != nil {
		return err
	}
	m.mu.Lock()
	t := m.st.table(req.Entity)
	var ids []string
	for _, id := range t.ids {
		ok, err := match(req.Filter, t.rows[id].fields)
		if err != nil {
			m.mu.Unlock()
			return &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: req.Entity, Summary: "cannot evaluate the filter", Err: err}
		}
		if ok {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	return send(ids)
}

func match(f filter.Expr, fields map[string]any) (bool, error) {
	if f == nil {
		return true, nil
	}
	return filter.Eval(f, fields)
}

// projection checks the requested fields and adds the key to them.
func projection(e sdk.EntitySchema, fields []string) ([]string, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	for _, f := range fields {
		if _, ok := e.Field(f); !ok {
			return nil, &sdk.Error{Code: sdk.CodeUnknownField, Entity: e.Name, Field: f, Summary: "memconn has no such field"}
		}
	}
	return append(slices.Clone(fields), e.Key), nil
}

func parseFullCursor(entity, c string) (start int64, after string, err error) {
	if c == "" {
		return 0, "", nil
	}
	rest, ok := strings.CutPrefix(c, "full:")
	v, after, ok2 := strings.Cut(rest, ":")
	start, err = strconv.ParseInt(v, 10, 64)
	if !ok || !ok2 || err != nil {
		return 0, "", expired(entity, c)
	}
	return start, after, nil
}

func expired(entity, cursor string) error {
	return &sdk.Error{Code: sdk.CodeCursorExpired, Entity: entity, Summary: "memconn does not know this cursor", Detail: fmt.Sprintf("cursor %q", cursor)}
}
