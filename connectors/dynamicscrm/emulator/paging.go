package emulator

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The $skiptoken of @odata.nextLink is the service's XML paging cookie,
// URL-encoded twice:
//
//	<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3caccountid%20last%3d%22%7b…%7d%22%20first%3d%22%7b…%7d%22%20%2f%3e%3c%2fcookie%3e" istracking="False" />
//
// The inner cookie names the last primary key served, so the next page
// resumes after it (O(page), stable while rows change). With $orderby the
// inner cookie also carries the last sort values; while tracking changes it
// carries the version the delta token will start from; in a delta it carries
// the log cursor.

// pageCookie is the decoded paging state.
type pageCookie struct {
	page     int
	tracking bool
	last     uuid.UUID
	first    uuid.UUID
	keys     []cookieKey // $orderby values of the last row
	version  int64       // tracking: version the deltaLink starts from
	// delta paging
	phase int
	seq   int64
	to    int64
}

type cookieKey struct {
	attr  string
	value string
	null  bool
}

type xmlAttrs struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Items   []xmlAttrs `xml:",any"`
}

func (x xmlAttrs) attr(name string) (string, bool) {
	for _, a := range x.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// encodeInner escapes like the service does for the inner cookie:
// lowercase %xx for everything but letters, digits and -_.~
func encodeInner(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02x", c)
	}
	return b.String()
}

// encodeOuter escapes the outer cookie for the URL: <, >, ", space and %
// (uppercase hex), leaving = and / as the service does.
func encodeOuter(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<', '>', '"', ' ', '%', '&', '#', '+', '?':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func braceGUID(id uuid.UUID) string { return "{" + strings.ToUpper(id.String()) + "}" }

// encode renders the cookie as the (already URL-encoded) $skiptoken value.
func (c pageCookie) encode(pk string) string {
	var inner strings.Builder
	fmt.Fprintf(&inner, `<cookie page="%d"`, c.page)
	if c.tracking && c.phase == 0 {
		fmt.Fprintf(&inner, ` version="%d"`, c.version)
	}
	if c.phase > 0 {
		fmt.Fprintf(&inner, ` phase="%d" seq="%d" to="%d"`, c.phase, c.seq, c.to)
	}
	inner.WriteString(">")
	for _, k := range c.keys {
		if k.null {
			fmt.Fprintf(&inner, `<%s lastnull="1" />`, k.attr)
			continue
		}
		fmt.Fprintf(&inner, `<%s last="%s" />`, k.attr, xmlEscape(k.value))
	}
	if c.phase == 0 {
		fmt.Fprintf(&inner, `<%s last="%s" first="%s" />`, pk, braceGUID(c.last), braceGUID(c.first))
	}
	inner.WriteString("</cookie>")
	tracking := "False"
	if c.tracking {
		tracking = "True"
	}
	outer := fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="%s" />`, c.page+1, encodeInner(inner.String()), tracking)
	return encodeOuter(outer)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func badSkipToken() *apiError {
	return newErr(http.StatusBadRequest, codeQuery, "The $skiptoken value is not a valid paging cookie.")
}

// decodeCookie parses a $skiptoken value as url.Values decoded it once.
func decodeCookie(v, pk string) (pageCookie, *apiError) {
	var outer xmlAttrs
	if err := xml.Unmarshal([]byte(v), &outer); err != nil || outer.XMLName.Local != "cookie" {
		return pageCookie{}, badSkipToken()
	}
	pc, ok := outer.attr("pagingcookie")
	if !ok {
		return pageCookie{}, badSkipToken()
	}
	raw, err := url.PathUnescape(pc)
	if err != nil {
		return pageCookie{}, badSkipToken()
	}
	var inner xmlAttrs
	if err := xml.Unmarshal([]byte(raw), &inner); err != nil || inner.XMLName.Local != "cookie" {
		return pageCookie{}, badSkipToken()
	}
	var c pageCookie
	if t, _ := outer.attr("istracking"); strings.EqualFold(t, "true") {
		c.tracking = true
	}
	num := func(name string) int64 {
		s, _ := inner.attr(name)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	c.page = int(num("page"))
	c.version = num("version")
	c.phase, c.seq, c.to = int(num("phase")), num("seq"), num("to")
	if c.page < 1 {
		return pageCookie{}, badSkipToken()
	}
	foundPK := false
	for _, it := range inner.Items {
		name := it.XMLName.Local
		if name == pk {
			last, _ := it.attr("last")
			id, err := uuid.Parse(strings.Trim(last, "{}"))
			if err != nil {
				return pageCookie{}, badSkipToken()
			}
			c.last, foundPK = id, true
			if first, ok := it.attr("first"); ok {
				c.first, _ = uuid.Parse(strings.Trim(first, "{}"))
			}
			continue
		}
		k := cookieKey{attr: name}
		if n, _ := it.attr("lastnull"); n == "1" {
			k.null = true
		} else {
			k.value, _ = it.attr("last")
		}
		c.keys = append(c.keys, k)
	}
	if !foundPK && c.phase == 0 {
		return pageCookie{}, badSkipToken()
	}
	return c, nil
}

// linkQuery rebuilds the request's query string verbatim minus the named
// options, so next and delta links echo what the client sent.
func linkQuery(rawQ string, drop ...string) []string {
	var out []string
	for _, part := range strings.Split(rawQ, "&") {
		if part == "" {
			continue
		}
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		skip := false
		for _, d := range drop {
			if name == d {
				skip = true
			}
		}
		if !skip {
			out = append(out, part)
		}
	}
	return out
}

func buildLink(api, set string, parts []string) string {
	if len(parts) == 0 {
		return api + "/" + set
	}
	return api + "/" + set + "?" + strings.Join(parts, "&")
}

// Delta tokens are "<version>!<MM/dd/yyyy HH:mm:ss>" (UTC), URL-encoded with
// lowercase escapes as the service writes them: 919042%2108%2f22%2f2017%2008%3a10%3a44.
const deltaTimeLayout = "01/02/2006 15:04:05"

func encodeDeltaToken(version int64, at time.Time) string {
	return encodeInner(fmt.Sprintf("%d!%s", version, at.UTC().Format(deltaTimeLayout)))
}

func parseDeltaToken(s string) (int64, time.Time, bool) {
	v, ts, ok := strings.Cut(s, "!")
	if !ok {
		return 0, time.Time{}, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, time.Time{}, false
	}
	at, err := time.ParseInLocation(deltaTimeLayout, ts, time.UTC)
	if err != nil {
		return 0, time.Time{}, false
	}
	return n, at, true
}
