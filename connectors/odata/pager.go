package odata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/synchub/synchub/sdk/httpx"
)

// Pager reads a collection the way OData services want it read: one GET
// per page, the same Prefer header on every page (services refuse a
// nextLink without the preference it was made under), next and delta
// links followed verbatim. A link to a host other than the client's
// BaseURL (or its AllowedHosts) is refused by httpx before anything is
// sent, so a forged or misconfigured link never receives the token.
type Pager struct {
	Client *httpx.Client
	// Prefer is sent with every page.
	Prefer Prefer
	// Header holds further headers for every page (a back end's own).
	Header http.Header
}

// Page GETs one page at link (a query URL, a nextLink or a deltaLink) and
// hands each row to row. Relative links in the answer are resolved against
// link, so PageInfo's links are absolute.
func (p *Pager) Page(ctx context.Context, link string, row func(Row) error) (PageInfo, error) {
	return p.page(ctx, link, row, nil)
}

// page is Page with rows decoded (row) or raw (raw; see DecodePageRaw).
func (p *Pager) page(ctx context.Context, link string, row func(Row) error, raw func(json.RawMessage) error) (PageInfo, error) {
	h := Headers()
	for k, vs := range p.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	p.Prefer.Set(h)
	resp, err := p.Client.Stream(ctx, http.MethodGet, link, h)
	if err != nil {
		if errors.Is(err, httpx.ErrHostNotAllowed) {
			return PageInfo{}, fmt.Errorf("odata: not following a link to another host (%s): %w", hostOf(link), err)
		}
		return PageInfo{}, err
	}
	defer resp.Body.Close()
	if err := expectJSON(resp); err != nil {
		return PageInfo{}, fmt.Errorf("GET %s: %w", Redact(link), err)
	}
	info, err := decodePage(resp.Body, row, raw)
	if err != nil {
		return info, fmt.Errorf("GET %s: %w", Redact(link), err)
	}
	info.NextLink, err = resolve(link, info.NextLink)
	if err == nil {
		info.DeltaLink, err = resolve(link, info.DeltaLink)
	}
	if err != nil {
		return info, fmt.Errorf("GET %s: %w: %v", Redact(link), ErrBadBody, err)
	}
	return info, nil
}

// Each reads the pages from first on, calling row for each row and page
// after each page; page sees the page's links and may stop the walk by
// returning an error. It ends after the page without a nextLink.
func (p *Pager) Each(ctx context.Context, first string, row func(Row) error, page func(PageInfo) error) error {
	return p.each(ctx, first, row, nil, page)
}

// EachRaw is Each handing rows over as the service sent them (see
// DecodePageRaw).
func (p *Pager) EachRaw(ctx context.Context, first string, row func(json.RawMessage) error, page func(PageInfo) error) error {
	return p.each(ctx, first, nil, row, page)
}

func (p *Pager) each(ctx context.Context, first string, row func(Row) error, raw func(json.RawMessage) error, page func(PageInfo) error) error {
	for link := first; link != ""; {
		info, err := p.page(ctx, link, row, raw)
		if err != nil {
			return err
		}
		if err := page(info); err != nil {
			return err
		}
		link = info.NextLink
	}
	return nil
}

// expectJSON refuses a 2xx answer that is not JSON (an HTML sign-in or
// error page a proxy served), quoting its start.
func expectJSON(resp *http.Response) error {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return fmt.Errorf("%w: %w: content type %q, not JSON: %s", ErrBadBody, httpx.ErrNotJSON, ct, snippet(head))
}

// resolve makes link absolute against base (OData allows relative links).
func resolve(base, link string) (string, error) {
	if link == "" {
		return "", nil
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("link %q: %w", snippet([]byte(link)), err)
	}
	if u.IsAbs() {
		return link, nil
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("base %q: %w", Redact(base), err)
	}
	return b.ResolveReference(u).String(), nil
}

// Redact shortens a URL for messages: scheme, host and path, without the
// query (a nextLink's paging cookie is long, and a query may hold secrets).
func Redact(link string) string {
	if i := strings.IndexAny(link, "?#"); i >= 0 {
		return link[:i] + "?…"
	}
	return link
}

func hostOf(link string) string {
	if u, err := url.Parse(link); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return Redact(link)
}

// snippet turns the start of a body into one line for a message. An HTML
// or XML page (a gateway's error page, a sign-in form) is reduced to its
// text, which says more than its markup.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "<") {
		var text strings.Builder
		for t != "" {
			i := strings.IndexByte(t, '<')
			if i < 0 {
				text.WriteString(t)
				break
			}
			text.WriteString(t[:i] + " ")
			j := strings.IndexByte(t[i:], '>')
			if j < 0 {
				break
			}
			t = t[i+j+1:]
		}
		s = text.String()
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
