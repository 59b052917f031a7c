package sdktest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
)

// maxPages stops a pass that never ends.
const maxPages = 100000

// fetchFullCase: a full pass returns every record exactly once, in pages of
// at most the page size, ending with one Done page.
func fetchFullCase(h *harness, e EntityConfig) {
	h.require(sdk.CapFetch)
	h.ensure(e, 2*h.cfg.PageSize+1)
	pages := h.pass(sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, PageSize: h.cfg.PageSize})
	page := map[string]int{} // record id -> page it came on
	for i, pg := range pages {
		if len(pg.Records) > h.cfg.PageSize {
			h.Errorf("page %d holds %d records, over the page size %d", i, len(pg.Records), h.cfg.PageSize)
		}
		for _, r := range pg.Records {
			if p, dup := page[r.ID]; dup {
				h.Errorf("record %s comes twice, on page %d and on page %d", r.ID, p, i)
			}
			page[r.ID] = i
			if r.Version == "" {
				h.Errorf("record %s has no version: the hub could not tell a change from none", r.ID)
			}
		}
	}
	if len(page) == 0 {
		h.Logf("%s has no records: seed the back end, or give Backend and NewRecord, so the case proves something", e.Name)
	}
	if h.describe().Has(sdk.CapListIDs) {
		for _, id := range h.listIDs(e.Name, nil) {
			if _, ok := page[id]; !ok {
				h.Errorf("ListIDs lists %s, but the full pass did not return it", id)
			}
		}
	}
}

// fetchIncrementalCase: after a full pass, an incremental pass from its
// cursor returns exactly the records created and updated on the server
// since, and reports the deleted one the way the schema says (inline, feed
// or by its absence from ListIDs); a pass from the new cursor is empty.
func fetchIncrementalCase(h *harness, e EntityConfig) {
	h.require(sdk.CapFetch)
	h.needBackend(e)
	if e.Update == nil {
		h.Skipf("needs EntityConfig.Update for %s", e.Name)
	}
	es := h.schema(e)
	if h.ensure(e, 2) < 2 {
		h.Skipf("needs two records of %s", e.Name)
	}
	base := h.pass(sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, PageSize: h.cfg.PageSize})
	cursor := last(base).Cursor
	if cursor == "" {
		h.Skipf("%s has no incremental feed: its full pass ends with no cursor", e.Name)
	}
	var delCursor string
	if es.Deletes == sdk.DeletesFeed {
		_, delCursor = h.deletions(e.Name, "")
	}

	recs := recordsOf(base)
	updated, deleted := recs[0], recs[1]
	if err := h.backend.Update(e.Name, updated.ID, e.Update(updated)); err != nil {
		h.Fatalf("Backend.Update(%s %s): %v", e.Name, updated.ID, err)
	}
	if err := h.backend.Delete(e.Name, deleted.ID); err != nil {
		h.Fatalf("Backend.Delete(%s %s): %v", e.Name, deleted.ID, err)
	}
	want := map[string]bool{updated.ID: true, h.put(e): true, h.put(e): true}

	inc := h.pass(sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, Incremental: true, Cursor: cursor, PageSize: h.cfg.PageSize})
	got := map[string]sdk.Record{}
	var unchanged, missed []string
	for _, r := range recordsOf(inc) {
		got[r.ID] = r
		if !want[r.ID] {
			unchanged = append(unchanged, r.ID)
		}
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			missed = append(missed, id)
		}
	}
	if len(unchanged) > 0 {
		h.Errorf("the incremental pass returns %s, which did not change", list(unchanged))
	}
	if len(missed) > 0 {
		h.Errorf("the incremental pass misses %s, which were created or updated", list(missed))
	}
	if r, ok := got[updated.ID]; ok && r.Version == updated.Version {
		h.Errorf("updated record %s kept its version %q", updated.ID, r.Version)
	}
	switch es.Deletes {
	case sdk.DeletesInline:
		if !slices.Contains(deletedOf(inc), deleted.ID) {
			h.Errorf("deletes are inline, but the incremental pass does not report deleted %s (got %v)", deleted.ID, deletedOf(inc))
		}
	case sdk.DeletesFeed:
		if ids, _ := h.deletions(e.Name, delCursor); !slices.Contains(ids, deleted.ID) {
			h.Errorf("deletes come from a feed, but Deletions does not report deleted %s (got %v)", deleted.ID, ids)
		}
	case sdk.DeletesNone:
		if h.describe().Has(sdk.CapListIDs) && slices.Contains(h.listIDs(e.Name, nil), deleted.ID) {
			h.Errorf("ListIDs still lists deleted %s", deleted.ID)
		}
	}
	if _, ok := got[deleted.ID]; ok {
		h.Errorf("the incremental pass returns deleted %s as a record", deleted.ID)
	}

	again := h.pass(sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, Incremental: true, Cursor: last(inc).Cursor, PageSize: h.cfg.PageSize})
	h.expectNoChanges(again, "an incremental pass from the cursor the last one ended with")
	if es.Deletes == sdk.DeletesFeed {
		if _, c := h.deletions(e.Name, delCursor); c != "" {
			if ids, _ := h.deletions(e.Name, c); len(ids) > 0 {
				h.Errorf("Deletions from its latest cursor reports %v, with nothing deleted since", ids)
			}
		}
	}
}

// fetchResumeCase: a full pass interrupted after its first page resumes from
// that page's cursor and returns the rest: together every record, once.
func fetchResumeCase(h *harness, e EntityConfig) {
	h.require(sdk.CapFetch)
	size := h.cfg.PageSize
	if h.ensure(e, 2*size+1) <= size {
		h.Skipf("needs more than %d records of %s", size, e.Name)
	}
	req := sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, PageSize: size}
	all := idsOf(recordsOf(h.pass(req)))

	errStop := errors.New("sdktest: pass interrupted after its first page")
	var first sdk.Page
	err := h.client.Fetch(h.ctx, req, func(pg sdk.Page) error { first = pg; return errStop })
	if !errors.Is(err, errStop) {
		h.Fatalf("Fetch returned %v after its receiver failed; want the receiver's error", err)
	}
	if first.Done {
		h.Fatalf("the first page of %d records is Done, with %d records to serve", len(first.Records), len(all))
	}
	if first.Cursor == "" {
		h.Fatalf("the first page of a full pass has no cursor: an interrupted pass cannot resume")
	}
	req.Cursor = first.Cursor
	rest := h.pass(req)
	union := append(idsOf(first.Records), idsOf(recordsOf(rest))...)
	h.expectSameIDs(union, all, "the interrupted pass and its resumption")
	if c := last(rest).Cursor; c != "" {
		h.expectNoChanges(h.pass(sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, Incremental: true, Cursor: c, PageSize: size}),
			"an incremental pass from the cursor a resumed full pass ended with, nothing changed since")
	}
}

// cursorFromFutureCase: the newest cursor, from an incremental pass that
// found nothing, gives an empty pass and no error.
func cursorFromFutureCase(h *harness, e EntityConfig) {
	h.require(sdk.CapFetch)
	req := sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, PageSize: h.cfg.PageSize}
	req.Cursor, req.Incremental = last(h.pass(req)).Cursor, true
	if req.Cursor == "" {
		h.Skipf("%s has no incremental feed: its full pass ends with no cursor", e.Name)
	}
	for i := range 2 {
		req.Cursor = last(h.pass(req)).Cursor
		if req.Cursor == "" {
			h.Fatalf("incremental pass %d ends with no cursor", i+1)
		}
	}
	h.expectNoChanges(h.pass(req), "an incremental pass from the newest cursor")
}

// pageSizeCase: with page size 3, no page holds more than 3 records, full or
// incremental, and no record passes sdk.MaxRecordBytes. (Over gRPC the
// transport itself refuses a chunk over sdk.MaxMessageBytes.)
func pageSizeCase(h *harness, e EntityConfig) {
	h.require(sdk.CapFetch)
	const size = 3
	if n := h.ensure(e, 10); n < 10 {
		h.Skipf("needs 10 records of %s, has %d", e.Name, n)
	}
	pages := h.pass(sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, PageSize: size})
	if h.backend != nil && e.NewRecord != nil && last(pages).Cursor != "" {
		for range 2*size + 1 {
			h.put(e)
		}
		pages = append(pages, h.pass(sdk.FetchRequest{Entity: e.Name, Fields: e.Fields, PageSize: size, Incremental: true, Cursor: last(pages).Cursor})...)
	}
	for i, pg := range pages {
		if len(pg.Records) > size {
			h.Errorf("page %d holds %d records, over the page size %d", i, len(pg.Records), size)
		}
		for _, r := range pg.Records {
			if b, err := r.FieldsJSON(); err != nil || len(b) > sdk.MaxRecordBytes {
				h.Errorf("record %s: %d bytes of fields (limit %d), encoding error %v", r.ID, len(b), sdk.MaxRecordBytes, err)
			}
		}
	}
}

// filterPushdownCase: a full pass with the entity's filter returns exactly
// the records of the unfiltered pass that the filter matches.
func filterPushdownCase(h *harness, e EntityConfig) {
	h.require(sdk.CapFetch)
	if e.Filter == "" {
		h.Skipf("no EntityConfig.Filter for %s", e.Name)
	}
	expr, err := filter.Parse(e.Filter)
	if err != nil {
		h.Fatalf("filter %q: %v", e.Filter, err)
	}
	fields := e.Fields
	if len(fields) > 0 { // the filter's fields are needed to evaluate it here
		fields = append(slices.Clone(fields), filter.Fields(expr)...)
	}
	req := sdk.FetchRequest{Entity: e.Name, Fields: fields, PageSize: h.cfg.PageSize}
	all := recordsOf(h.pass(req))
	var want []string
	for _, r := range all {
		if h.matches(expr, r) {
			want = append(want, r.ID)
		}
	}
	if len(want) == 0 {
		h.Fatalf("filter %q matches none of the %d records of %s: choose one that selects some", e.Filter, len(all), e.Name)
	}
	if len(want) == len(all) {
		h.Logf("filter %q matches every record of %s: the case cannot tell a pushed-down filter from none", e.Filter, e.Name)
	}
	req.Filter = expr
	got := recordsOf(h.pass(req))
	for _, r := range got {
		if !h.matches(expr, r) {
			h.Errorf("the filtered pass returns records that do not match %q, such as %s with fields %v", e.Filter, r.ID, r.Fields)
			break
		}
	}
	h.expectSameIDs(idsOf(got), want, "the filtered pass")
}

func (h *harness) matches(expr filter.Expr, r sdk.Record) bool {
	h.Helper()
	ok, err := filter.Eval(expr, r.Fields)
	if err != nil {
		h.Fatalf("evaluate filter on %s: %v", r.ID, err)
	}
	return ok
}

// pass runs one Fetch to its end. A failing call, or a stream whose last
// page, and only that one, is not Done, fails the case.
func (h *harness) pass(req sdk.FetchRequest) []sdk.Page {
	h.Helper()
	var pages []sdk.Page
	errRunaway := errors.New("sdktest: the pass does not end")
	err := h.client.Fetch(h.ctx, req, func(pg sdk.Page) error {
		for i := range pg.Records {
			// A connector may hand over Raw only (see sdk.Record).
			r := &pg.Records[i]
			m, err := r.FieldMap()
			if err != nil {
				h.Errorf("%s: %v", describeFetch(req), err)
			}
			r.Fields = m
		}
		pages = append(pages, pg)
		if len(pages) > maxPages {
			return errRunaway
		}
		return nil
	})
	if err != nil {
		h.Fatalf("%s: %v", describeFetch(req), err)
	}
	if len(pages) == 0 || !last(pages).Done {
		h.Fatalf("%s: the last of its %d pages is not marked Done", describeFetch(req), len(pages))
	}
	for i, pg := range pages[:len(pages)-1] {
		if pg.Done {
			h.Errorf("%s: page %d of %d is marked Done", describeFetch(req), i, len(pages))
		}
	}
	return pages
}

// ensure makes the entity hold at least n records when Backend can create
// them, and returns how many it holds.
func (h *harness) ensure(e EntityConfig, n int) int {
	h.Helper()
	have := len(recordsOf(h.pass(sdk.FetchRequest{Entity: e.Name, PageSize: h.cfg.PageSize})))
	if h.backend == nil || e.NewRecord == nil {
		return have
	}
	for ; have < n; have++ {
		h.put(e)
	}
	return have
}

// deletions runs one Deletions call and returns its ids and final cursor.
func (h *harness) deletions(entity, cursor string) (ids []string, next string) {
	h.Helper()
	done := false
	err := h.client.Deletions(h.ctx, sdk.DeletionsRequest{Entity: entity, Cursor: cursor}, func(pg sdk.DeletionPage) error {
		ids, next, done = append(ids, pg.IDs...), pg.Cursor, pg.Done
		return nil
	})
	if err != nil {
		h.Fatalf("Deletions(%s, %q): %v", entity, cursor, err)
	}
	if !done {
		h.Fatalf("Deletions(%s, %q) ends without a Done page", entity, cursor)
	}
	return ids, next
}

func (h *harness) listIDs(entity string, f filter.Expr) []string {
	h.Helper()
	var ids []string
	err := h.client.ListIDs(h.ctx, sdk.ListIDsRequest{Entity: entity, Filter: f}, func(part []string) error {
		ids = append(ids, part...)
		return nil
	})
	if err != nil {
		h.Fatalf("ListIDs(%s): %v", entity, err)
	}
	return ids
}

func (h *harness) expectNoChanges(pages []sdk.Page, what string) {
	h.Helper()
	if recs, dels := recordsOf(pages), deletedOf(pages); len(recs) > 0 || len(dels) > 0 {
		h.Errorf("%s returns records %s and deletions %s; want none", what, list(idsOf(recs)), list(dels))
	}
}

// expectSameIDs reports duplicates in got and differences from want.
func (h *harness) expectSameIDs(got, want []string, what string) {
	h.Helper()
	seen := map[string]bool{}
	var twice, missed, extra []string
	for _, id := range got {
		if seen[id] {
			twice = append(twice, id)
		}
		seen[id] = true
	}
	for _, id := range want {
		if !seen[id] {
			missed = append(missed, id)
		}
		delete(seen, id)
	}
	for id := range seen {
		extra = append(extra, id)
	}
	if len(twice) > 0 {
		h.Errorf("%s returns %s twice", what, list(twice))
	}
	if len(missed) > 0 {
		h.Errorf("%s misses %s", what, list(missed))
	}
	if len(extra) > 0 {
		h.Errorf("%s returns %s, which it should not", what, list(extra))
	}
}

// list renders ids sorted, at most ten of them.
func list(ids []string) string {
	ids = slices.Sorted(slices.Values(ids))
	if len(ids) > 10 {
		return fmt.Sprintf("%v and %d more", ids[:10], len(ids)-10)
	}
	return fmt.Sprint(ids)
}

func last(pages []sdk.Page) sdk.Page { return pages[len(pages)-1] }

func recordsOf(pages []sdk.Page) []sdk.Record {
	var out []sdk.Record
	for _, pg := range pages {
		out = append(out, pg.Records...)
	}
	return out
}

func deletedOf(pages []sdk.Page) []string {
	var out []string
	for _, pg := range pages {
		out = append(out, pg.Deleted...)
	}
	return out
}

func idsOf(recs []sdk.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
