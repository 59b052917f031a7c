package odata

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/synchub/synchub/sdk/httpx"
)

// Pager reads collection pages the way OData services want: the same
// Prefer header on every page, next and delta links followed as they come.
type Pager struct {
	Client *httpx.Client
	// MaxPageSize is sent as `Prefer: odata.maxpagesize` (0: not sent).
	MaxPageSize int
	// TrackChanges asks for change tracking (`Prefer: odata.track-changes`).
	TrackChanges bool
	// Annotations is sent as `Prefer: odata.include-annotations="..."`.
	Annotations string
}

// Headers are the request headers every OData call carries.
func Headers() http.Header {
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("OData-MaxVersion", "4.0")
	h.Set("OData-Version", "4.0")
	return h
}

// Page GETs one page at url (a query URL, a nextLink or a deltaLink, all
// opaque), handing each row to row.
func (p *Pager) Page(ctx context.Context, url string, row func(map[string]any) error) (PageInfo, error) {
	h := Headers()
	var prefer []string
	if p.MaxPageSize > 0 {
		prefer = append(prefer, fmt.Sprintf("odata.maxpagesize=%d", p.MaxPageSize))
	}
	if p.TrackChanges {
		prefer = append(prefer, "odata.track-changes")
	}
	if p.Annotations != "" {
		prefer = append(prefer, fmt.Sprintf("odata.include-annotations=%q", p.Annotations))
	}
	if len(prefer) > 0 {
		h.Set("Prefer", strings.Join(prefer, ","))
	}
	resp, err := p.Client.Stream(ctx, http.MethodGet, url, h)
	if err != nil {
		return PageInfo{}, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		return PageInfo{}, fmt.Errorf("odata: GET %s answered %q, not JSON", redact(url), ct)
	}
	info, err := DecodePage(resp.Body, row)
	if err != nil {
		return info, fmt.Errorf("GET %s: %w", redact(url), err)
	}
	return info, nil
}

// redact keeps a URL's path for messages; its query may be long.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?..."
	}
	return u
}
