package emulator

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// dispatch routes one Web API operation (path relative to /api/data/vX).
func (s *Server) dispatch(ctx *opCtx, req *apiRequest) *apiResponse {
	resp, err := s.dispatchErr(ctx, req)
	if err != nil {
		return errorResponse(err, req.pref)
	}
	return resp
}

func (s *Server) dispatchErr(ctx *opCtx, req *apiRequest) (*apiResponse, *apiError) {
	seg, rest, _ := strings.Cut(req.path, "/")
	switch {
	case seg == "":
		if req.method != http.MethodGet {
			return nil, methodErr(req.method)
		}
		return s.serviceDocument(req), nil
	case seg == "$batch":
		if ctx.tx != nil || req.header.Get("X-Emulator-In-Batch") != "" {
			return nil, newErr(http.StatusBadRequest, codeQuery, "Nested batch requests are not supported.")
		}
		if req.method != http.MethodPost {
			return nil, methodErr(req.method)
		}
		return s.serveBatch(req), nil
	case seg == "$metadata":
		return s.serveCSDL(req)
	case seg == "WhoAmI" || seg == "WhoAmI()":
		if rest != "" {
			return nil, segmentErr(rest)
		}
		return s.serveWhoAmI(req), nil
	case seg == "EntityDefinitions" || strings.HasPrefix(seg, "EntityDefinitions("):
		return s.serveMetadata(req, seg, rest)
	}
	name, keyName, key, hasKey, kerr := parseKeySegment(seg)
	if kerr != nil {
		return nil, kerr
	}
	t := s.st.tables[name]
	if t == nil {
		return nil, segmentErr(name)
	}
	if keyName != "" && keyName != t.def.pk {
		return nil, newErr(http.StatusBadRequest, codeQuery,
			"The key '%s' is not a valid alternate key of entity '%s' (the emulator defines none).", keyName, t.def.logical)
	}
	if rest != "" {
		if !hasKey && rest == "$count" && req.method == http.MethodGet {
			return s.countRows(req, t)
		}
		return nil, segmentErr(strings.SplitN(rest, "/", 2)[0])
	}
	if !hasKey {
		switch req.method {
		case http.MethodGet:
			return s.list(req, t)
		case http.MethodPost:
			return s.create(ctx, req, t)
		}
		return nil, methodErr(req.method)
	}
	switch req.method {
	case http.MethodGet:
		return s.getOne(req, t, key)
	case http.MethodPatch:
		return s.patch(ctx, req, t, key)
	case http.MethodDelete:
		return s.deleteOne(ctx, req, t, key)
	}
	return nil, methodErr(req.method)
}

// parseKeySegment splits "accounts(00000000-…)" or "accounts(accountid=…)"
// into set, key property name (if given) and key.
func parseKeySegment(seg string) (string, string, uuid.UUID, bool, *apiError) {
	name, key, ok := strings.Cut(seg, "(")
	if !ok {
		return seg, "", uuid.UUID{}, false, nil
	}
	key, closed := strings.CutSuffix(key, ")")
	if !closed {
		return "", "", uuid.UUID{}, false, newErr(http.StatusBadRequest, codeQuery, "Bad Request - Error in query syntax.")
	}
	keyName := ""
	if k, v, isNamed := strings.Cut(key, "="); isNamed {
		keyName, key = k, v
	}
	id, err := uuid.Parse(key)
	if err != nil || len(key) != 36 {
		return "", "", uuid.UUID{}, false, newErr(http.StatusBadRequest, codeQuery, "Unrecognized 'Edm.Guid' literal '%s' at '0' in '%s'.", key, key)
	}
	return name, keyName, id, true, nil
}

// checkOptions refuses system query options the operation does not take.
func checkOptions(req *apiRequest, allowed ...string) *apiError {
	for name, vals := range req.query {
		if !strings.HasPrefix(name, "$") {
			continue
		}
		if len(vals) > 1 {
			return newErr(http.StatusBadRequest, codeQuery, "Query option '%s' was specified more than once, but it must be specified at most once.", name)
		}
		if slices.Contains(allowed, name) {
			continue
		}
		switch name {
		case "$skip":
			return newErr(http.StatusBadRequest, codeQuery, "Skip Clause is not supported in CRM")
		case "$expand", "$apply", "$search", "$compute", "$levels", "$format":
			return newErr(http.StatusNotImplemented, codeQuery, "The query option '%s' is not supported by the emulator.", name)
		}
		return newErr(http.StatusBadRequest, codeQuery, "The query parameter '%s' is not supported.", name)
	}
	return nil
}

// parseSelect returns the selected columns (all Web API properties when
// $select is absent) and the names for @odata.context.
func parseSelect(t *table, v string) ([]*column, []string, *apiError) {
	if v == "" {
		var cols []*column
		for _, c := range t.def.cols {
			if c.prop != "" {
				cols = append(cols, c)
			}
		}
		return cols, nil, nil
	}
	var cols []*column
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		c, ok := t.def.byProp[n]
		if !ok {
			return nil, nil, propertyErr(t.def.logical, n)
		}
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
			names = append(names, n)
		}
	}
	return cols, names, nil
}

func contextURL(req *apiRequest, set string, names []string) string {
	u := req.api() + "/$metadata#" + set
	if len(names) > 0 {
		u += "(" + strings.Join(names, ",") + ")"
	}
	return u
}

func etagOf(r *row) string { return `W/"` + strconv.FormatInt(r.version, 10) + `"` }

// etagMatches reports whether any entity tag in the header names r's version.
func etagMatches(header string, r *row) bool {
	for _, e := range strings.Split(header, ",") {
		e = strings.TrimSpace(e)
		if e == "*" {
			return true
		}
		e = strings.Trim(strings.TrimPrefix(e, "W/"), `"`)
		if n, err := strconv.ParseInt(e, 10, 64); err == nil && n == r.version {
			return true
		}
	}
	return false
}

// record adapts a row to the filter evaluator.
func record(t *table, r *row) frecord {
	return func(prop string) any {
		c := t.def.byProp[prop]
		if c == nil {
			return nil
		}
		return filterValue(c, t.value(r, c))
	}
}

type orderKey struct {
	col  *column
	desc bool
}

func parseOrderBy(t *table, v string) ([]orderKey, *apiError) {
	var keys []orderKey
	for _, item := range strings.Split(v, ",") {
		f := strings.Fields(item)
		if len(f) == 0 || len(f) > 2 {
			return nil, newErr(http.StatusBadRequest, codeQuery, "Syntax error at position %d in '%s'.", len(v), v)
		}
		c, ok := t.def.byProp[f[0]]
		if !ok {
			return nil, propertyErr(t.def.logical, f[0])
		}
		k := orderKey{col: c}
		if len(f) == 2 {
			switch f[1] {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, newErr(http.StatusBadRequest, codeQuery, "Syntax error at position %d in '%s'.", len(v), v)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// compareKeyVals orders normalized values with nulls first.
func compareKeyVals(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	c, _ := compareValues(a, b)
	return c
}

func sortTuple(t *table, r *row, keys []orderKey) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = filterValue(k.col, t.value(r, k.col))
	}
	return out
}

func compareTuples(keys []orderKey, a []any, aid uuid.UUID, b []any, bid uuid.UUID) int {
	for i, k := range keys {
		c := compareKeyVals(a[i], b[i])
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmpID(aid, bid)
}

func keyString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, false
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), false
	case dtValue:
		return strconv.FormatInt(int64(x), 10), false
	case bool:
		return strconv.FormatBool(x), false
	case uuid.UUID:
		return x.String(), false
	}
	return "", true
}

func keyValue(c *column, k cookieKey) any {
	if k.null {
		return nil
	}
	switch edmOf(c) {
	case "Edm.String":
		return k.value
	case "Edm.Boolean":
		return k.value == "true"
	case "Edm.Guid":
		id, _ := uuid.Parse(k.value)
		return id
	case "Edm.DateTimeOffset":
		n, _ := strconv.ParseInt(k.value, 10, 64)
		return dtValue(n)
	}
	f, _ := strconv.ParseFloat(k.value, 64)
	return f
}

// selectPage returns up to limit matching rows after the cookie position and
// whether more follow. Without $orderby it walks the primary-key index.
func selectPage(t *table, filter fnode, keys []orderKey, cookie *pageCookie, limit int) ([]*row, bool, *apiError) {
	var page []*row
	if len(keys) == 0 {
		start := 0
		if cookie != nil {
			start = t.after(cookie.last)
		}
		for i := start; i < len(t.order); i++ {
			r := t.rows[t.order[i]]
			if r == nil || !matches(filter, record(t, r)) {
				continue
			}
			if len(page) == limit {
				return page, true, nil
			}
			page = append(page, r)
		}
		return page, false, nil
	}
	type item struct {
		r   *row
		tup []any
	}
	var all []item
	for _, id := range t.order {
		r := t.rows[id]
		if r != nil && matches(filter, record(t, r)) {
			all = append(all, item{r, sortTuple(t, r, keys)})
		}
	}
	slices.SortFunc(all, func(a, b item) int { return compareTuples(keys, a.tup, a.r.id, b.tup, b.r.id) })
	start := 0
	if cookie != nil {
		if len(cookie.keys) != len(keys) {
			return nil, false, badSkipToken()
		}
		last := make([]any, len(keys))
		for i, k := range keys {
			last[i] = keyValue(k.col, cookie.keys[i])
		}
		start, _ = slices.BinarySearchFunc(all, last, func(a item, _ []any) int {
			if compareTuples(keys, a.tup, a.r.id, last, cookie.last) <= 0 {
				return -1
			}
			return 1
		})
	}
	for _, it := range all[start:] {
		if len(page) == limit {
			return page, true, nil
		}
		page = append(page, it.r)
	}
	return page, false, nil
}

func (s *Server) list(req *apiRequest, t *table) (*apiResponse, *apiError) {
	if req.pref.trackChanges || req.query.Has("$deltatoken") {
		for _, o := range []string{"$filter", "$orderby", "$expand", "$top"} {
			if req.query.Has(o) {
				return nil, newErr(http.StatusBadRequest, codeQuery, `The "%s" query parameter isn't supported when Change Tracking is enabled.`, o)
			}
		}
	}
	if err := checkOptions(req, "$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken"); err != nil {
		return nil, err
	}
	if req.query.Has("$deltatoken") {
		return s.delta(req, t)
	}
	cols, names, err := parseSelect(t, req.query.Get("$select"))
	if err != nil {
		return nil, err
	}
	var filter fnode
	if f := req.query.Get("$filter"); f != "" {
		if filter, err = parseFilter(f, tableSchema{t.def}); err != nil {
			return nil, err
		}
	}
	var keys []orderKey
	if o := req.query.Get("$orderby"); o != "" {
		if keys, err = parseOrderBy(t, o); err != nil {
			return nil, err
		}
	}
	top := -1
	if v := req.query.Get("$top"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return nil, newErr(http.StatusBadRequest, codeQuery,
				"Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v)
		}
		top = n
	}
	count := false
	switch v := req.query.Get("$count"); v {
	case "", "false":
	case "true":
		count = true
	default:
		return nil, newErr(http.StatusBadRequest, codeQuery, "'%s' is not a valid count option.", v)
	}
	var cookie *pageCookie
	if st := req.query.Get("$skiptoken"); st != "" {
		c, cerr := decodeCookie(st, t.def.pk)
		if cerr != nil || c.phase != 0 {
			return nil, badSkipToken()
		}
		cookie = &c
	}
	tracking := req.pref.trackChanges || cookie != nil && cookie.tracking
	pageSize, applied := s.opts.MaxPageSize, req.pref.maxPageSize > 0
	if applied {
		pageSize = min(req.pref.maxPageSize, s.opts.MaxPageSize)
	}
	limit := pageSize
	useTop := top >= 0 && !applied && !tracking
	if useTop {
		limit = top
	}

	unlock := s.st.rlock()
	defer unlock()
	startVersion := s.st.version
	if cookie != nil && cookie.tracking {
		startVersion = cookie.version
	}
	page, more, err := selectPage(t, filter, keys, cookie, limit)
	if err != nil {
		return nil, err
	}
	if useTop {
		more = false
	}
	items := make([]obj, 0, len(page))
	for _, r := range page {
		items = append(items, s.rowObj(t, r, cols, req.pref))
	}
	body := obj{{"@odata.context", contextURL(req, t.def.set, names)}}
	if count {
		n := 0
		for _, r := range t.rows {
			if matches(filter, record(t, r)) {
				n++
			}
		}
		body = append(body, kv{"@odata.count", min(n, 5000)})
		if req.pref.wants("Microsoft.Dynamics.CRM.totalrecordcount") {
			body = append(body, kv{"@Microsoft.Dynamics.CRM.totalrecordcount", -1})
		}
		if req.pref.wants("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded") {
			body = append(body, kv{"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded", n > 5000})
		}
	}
	if tracking && !more {
		parts := linkQuery(req.rawQ, "$skiptoken", "$deltatoken")
		parts = append(parts, "$deltatoken="+encodeDeltaToken(startVersion, s.now()))
		body = append(body, kv{"@odata.deltaLink", buildLink(req.api(), t.def.set, parts)})
	}
	body = append(body, kv{"value", items})
	if more {
		next := pageCookie{page: 1, tracking: tracking, version: startVersion}
		if cookie != nil {
			next.page = cookie.page + 1
		}
		last := page[len(page)-1]
		next.last, next.first = last.id, page[0].id
		for _, k := range keys {
			v, null := keyString(filterValue(k.col, t.value(last, k.col)))
			next.keys = append(next.keys, cookieKey{attr: k.col.prop, value: v, null: null})
		}
		parts := append(linkQuery(req.rawQ, "$skiptoken"), "$skiptoken="+next.encode(t.def.pk))
		body = append(body, kv{"@odata.nextLink", buildLink(req.api(), t.def.set, parts)})
	}
	resp := jsonResponse(http.StatusOK, body)
	setPreferenceApplied(resp, req.pref, applied, pageSize, tracking && req.pref.trackChanges)
	return resp, nil
}

func setPreferenceApplied(resp *apiResponse, p prefer, pageApplied bool, pageSize int, tracking bool) {
	var applied []string
	if tracking {
		applied = append(applied, "odata.track-changes")
	}
	if pageApplied {
		applied = append(applied, "odata.maxpagesize="+strconv.Itoa(pageSize))
	}
	if p.rawAnnotations != "" {
		applied = append(applied, "odata.include-annotations="+p.rawAnnotations)
	}
	if len(applied) > 0 {
		resp.header.Set("Preference-Applied", strings.Join(applied, ","))
	}
}

func (s *Server) getOne(req *apiRequest, t *table, id uuid.UUID) (*apiResponse, *apiError) {
	if err := checkOptions(req, "$select"); err != nil {
		return nil, err
	}
	cols, names, err := parseSelect(t, req.query.Get("$select"))
	if err != nil {
		return nil, err
	}
	unlock := s.st.rlock()
	defer unlock()
	r := t.rows[id]
	if r == nil {
		return nil, notExistErr(t.def.logical, id.String())
	}
	if inm := req.header.Get("If-None-Match"); inm != "" && inm != "null" && etagMatches(inm, r) {
		resp := newResponse(http.StatusNotModified)
		resp.header.Set("ETag", etagOf(r))
		return resp, nil
	}
	body := append(obj{{"@odata.context", contextURL(req, t.def.set, names) + "/$entity"}}, s.rowObj(t, r, cols, req.pref)...)
	resp := jsonResponse(http.StatusOK, body)
	resp.header.Set("ETag", etagOf(r))
	setPreferenceApplied(resp, req.pref, false, 0, false)
	return resp, nil
}

func (s *Server) countRows(req *apiRequest, t *table) (*apiResponse, *apiError) {
	if err := checkOptions(req, "$filter"); err != nil {
		return nil, err
	}
	var filter fnode
	if f := req.query.Get("$filter"); f != "" {
		var err *apiError
		if filter, err = parseFilter(f, tableSchema{t.def}); err != nil {
			return nil, err
		}
	}
	unlock := s.st.rlock()
	defer unlock()
	n := 0
	for _, r := range t.rows {
		if matches(filter, record(t, r)) {
			n++
		}
	}
	resp := newResponse(http.StatusOK)
	resp.header.Set("Content-Type", "text/plain")
	resp.body = []byte(strconv.Itoa(min(n, 5000)))
	return resp, nil
}

func (s *Server) serviceDocument(req *apiRequest) *apiResponse {
	var sets []obj
	for _, t := range s.st.list {
		sets = append(sets, obj{{"name", t.def.set}, {"kind", "EntitySet"}, {"url", t.def.set}})
	}
	sets = append(sets, obj{{"name", "EntityDefinitions"}, {"kind", "EntitySet"}, {"url", "EntityDefinitions"}})
	return jsonResponse(http.StatusOK, obj{{"@odata.context", req.api() + "/$metadata"}, {"value", sets}})
}
