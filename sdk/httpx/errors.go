package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxErrorBody is how much of an error response body a StatusError keeps.
const maxErrorBody = 4 << 10

// maxSnippet is how much of a body an error message quotes.
const maxSnippet = 300

// ErrHostNotAllowed is returned (wrapped) for an absolute URL whose host is
// neither the BaseURL's host nor listed in Options.AllowedHosts. Such a
// request is never sent, so it cannot leak the bearer token.
var ErrHostNotAllowed = errors.New("httpx: host not allowed")

// ErrNotJSON is returned (wrapped) by GetJSON when the server answers with a
// content type that is not JSON, typically an HTML login or error page.
var ErrNotJSON = errors.New("httpx: response is not JSON")

// StatusError is a non-2xx response that was not (or no longer) retried.
type StatusError struct {
	Method string
	// URL is the request URL with secret-looking query values redacted.
	URL        string
	StatusCode int
	// Body is the first 4 KiB of the response body, with any token we sent
	// replaced by "REDACTED".
	Body []byte
	// RetryAfter is the server's Retry-After (429 and 503), zero if none.
	RetryAfter time.Duration
}

// Error reads "GET https://host/path: 404 Not Found: <body snippet>".
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.URL, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if s := snippet(e.Body); s != "" {
		b.WriteString(": " + s)
	}
	return b.String()
}

// RetryAfterError is returned when the server asks for a wait the client will
// not sleep (longer than Options.MaxRetryAfter, or past the context's
// deadline) or when retries ran out on 429. The caller (or the host) should
// reschedule the work after After.
type RetryAfterError struct {
	After time.Duration
	// Err is the last response's *StatusError.
	Err error
}

// Error says how long the server wants us to wait and why.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

// Unwrap returns the underlying *StatusError.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// newStatusError builds a StatusError from a response. body is what the
// caller already read (at most maxErrorBody is kept); secrets are scrubbed
// from it.
func newStatusError(method string, u *url.URL, resp *http.Response, body []byte, now time.Time, secrets ...string) *StatusError {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	body = scrub(body, secrets...)
	ra, _ := retryAfter(resp.StatusCode, resp.Header, body, now)
	return &StatusError{
		Method:     method,
		URL:        redactURL(u),
		StatusCode: resp.StatusCode,
		Body:       body,
		RetryAfter: ra,
	}
}

// scrub replaces every occurrence of each non-empty secret in b.
func scrub(b []byte, secrets ...string) []byte {
	for _, s := range secrets {
		if s != "" && bytes.Contains(b, []byte(s)) {
			b = bytes.ReplaceAll(b, []byte(s), []byte("REDACTED"))
		}
	}
	return b
}

// snippet turns the start of a body into one printable line for an error
// message: whitespace collapsed, control bytes dropped, cut at maxSnippet.
func snippet(b []byte) string {
	var out strings.Builder
	space := false
	n := 0
	for len(b) > 0 && n < maxSnippet {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case unicode.IsSpace(r):
			space = out.Len() > 0
			continue
		case r == utf8.RuneError || !unicode.IsPrint(r):
			continue
		}
		if space {
			out.WriteByte(' ')
			space = false
		}
		out.WriteRune(r)
		n++
	}
	if len(b) > 0 && n >= maxSnippet {
		out.WriteString("…")
	}
	return out.String()
}

// redactURL renders u for errors and logs: no user info, and the values of
// query parameters whose names look like credentials (SAS signatures,
// access_token, code, api keys, pre-authenticated download links) replaced.
// OData system options ($filter, $skiptoken, ...) are kept: they help
// debugging and are never secrets.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		// Edit the raw pairs in place so the rest of the query reads as sent.
		parts := strings.Split(c.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			name, err := url.QueryUnescape(k)
			if err != nil || secretParam(name) {
				parts[i] = k + "=REDACTED"
			}
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	return c.String()
}

// redactRawURL is redactURL for a string that may not parse.
func redactRawURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	return redactURL(u)
}

func secretParam(name string) bool {
	if strings.HasPrefix(name, "$") {
		return false
	}
	n := strings.ToLower(name)
	for _, w := range []string{"token", "secret", "password", "passwd", "pwd", "sig", "key", "code", "auth", "credential", "session"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
