package odata

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Query holds the system query options of a request.
type Query struct {
	Select  []string
	Filter  string // already translated (see Filter)
	OrderBy []string
	Expand  []string
	Top     int // 0: not sent
	Count   bool
	// Params are further query parameters (custom options, parameter
	// aliases), sent after the system options.
	Params url.Values
}

// Encode renders the options in a stable order, each value percent-encoded
// so that the service reads exactly what was meant: a space is %20 (never
// "+", which some OData services read as a plus), "&", "#", "+", "%" and
// ";" are escaped, while `$`, `,`, `(`, `)`, `'`, `/`, `:` and `@` stay
// readable.
func (q Query) Encode() string {
	var parts []string
	add := func(k, v string) { parts = append(parts, EscapeQuery(k)+"="+EscapeQuery(v)) }
	if len(q.Select) > 0 {
		add("$select", strings.Join(q.Select, ","))
	}
	if q.Filter != "" {
		add("$filter", q.Filter)
	}
	if len(q.OrderBy) > 0 {
		add("$orderby", strings.Join(q.OrderBy, ","))
	}
	if len(q.Expand) > 0 {
		add("$expand", strings.Join(q.Expand, ","))
	}
	if q.Top > 0 {
		add("$top", strconv.Itoa(q.Top))
	}
	if q.Count {
		add("$count", "true")
	}
	keys := make([]string, 0, len(q.Params))
	for k := range q.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range q.Params[k] {
			add(k, v)
		}
	}
	return strings.Join(parts, "&")
}

// URL appends the encoded options to base, which may carry a query already.
func (q Query) URL(base string) string {
	enc := q.Encode()
	switch {
	case enc == "":
		return base
	case strings.Contains(base, "?"):
		return base + "&" + enc
	}
	return base + "?" + enc
}

// EscapeQuery percent-encodes s for a query component, keeping the
// characters OData text is made of readable (see Query.Encode).
func EscapeQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~$,()'/:@!*", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
	}
	return b.String()
}

// Headers returns the request headers every OData v4 call carries.
func Headers() http.Header {
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("OData-MaxVersion", "4.0")
	h.Set("OData-Version", "4.0")
	return h
}

// IfMatch is the If-Match value for an update or delete based on version:
// the version itself (the write fails with 412 if the record moved on), or
// "*" when version is "" (the record must exist, at any version; without
// it a PATCH is an upsert and would re-create a deleted record).
func IfMatch(version string) string {
	if version == "" {
		return "*"
	}
	return version
}

// SetIfMatch sets If-Match to IfMatch(version).
func SetIfMatch(h http.Header, version string) { h.Set("If-Match", IfMatch(version)) }

// SetIfNoneMatch sets If-None-Match: "*" makes an upsert create-only (412
// if the record exists); an ETag makes a GET answer 304 when the record
// still has it.
func SetIfNoneMatch(h http.Header, etag string) { h.Set("If-None-Match", etag) }

// Prefer is the content of a Prefer header.
type Prefer struct {
	// MaxPageSize asks for pages of at most this many rows (0: not sent).
	MaxPageSize int
	// TrackChanges asks for change tracking: the last page carries
	// @odata.deltaLink.
	TrackChanges bool
	// Annotations asks for instance annotations (`*`, or a
	// comma-separated list of names).
	Annotations string
	// ReturnRepresentation asks a write to answer with the record.
	ReturnRepresentation bool
	// ContinueOnError asks a $batch to go on after a failed part.
	ContinueOnError bool
}

// String renders the header value ("" when nothing is asked).
func (p Prefer) String() string {
	var out []string
	if p.ReturnRepresentation {
		out = append(out, "return=representation")
	}
	if p.MaxPageSize > 0 {
		out = append(out, "odata.maxpagesize="+strconv.Itoa(p.MaxPageSize))
	}
	if p.TrackChanges {
		out = append(out, "odata.track-changes")
	}
	if p.Annotations != "" {
		out = append(out, `odata.include-annotations="`+p.Annotations+`"`)
	}
	if p.ContinueOnError {
		out = append(out, "odata.continue-on-error")
	}
	return strings.Join(out, ",")
}

// Set sets h's Prefer header to p (removing it when p asks nothing).
func (p Prefer) Set(h http.Header) {
	if s := p.String(); s != "" {
		h.Set("Prefer", s)
	} else {
		h.Del("Prefer")
	}
}
