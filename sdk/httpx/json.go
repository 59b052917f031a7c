package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// GetJSON GETs url (absolute, or relative to BaseURL) and decodes the JSON
// answer into out. Besides the errors of R it fails, never panics, with a
// message naming the URL when the answer is not JSON (ErrNotJSON, with the
// content type and the start of the body: an HTML login or error page) or
// is malformed (line, column and byte offset, and the text around it). A 204
// leaves out untouched.
func (c *Client) GetJSON(ctx context.Context, url string, out any) error {
	resp, err := c.R(ctx).SetHeader("Accept", "application/json").Get(url)
	if err != nil {
		return cleanError(http.MethodGet, err)
	}
	where := redactRawURL(resp.Request.URL)
	if resp.RawResponse != nil && resp.RawResponse.Request != nil {
		where = redactURL(resp.RawResponse.Request.URL)
	}
	if resp.StatusCode() == http.StatusNoContent {
		return nil
	}
	body := resp.Body()
	if ct := resp.Header().Get("Content-Type"); ct != "" && !isJSON(ct) {
		return fmt.Errorf("GET %s: %w: content type %q, status %d: %s", where, ErrNotJSON, ct, resp.StatusCode(), snippet(body))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("GET %s: empty body where JSON was expected (status %d)", where, resp.StatusCode())
	}
	if err := json.Unmarshal(body, out); err != nil {
		return decodeError(where, body, err)
	}
	return nil
}

// decodeError explains a JSON decoding failure with its position.
func decodeError(where string, body []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(body, syn.Offset)
		return fmt.Errorf("GET %s: malformed JSON at line %d, column %d (byte %d): %w; near %q",
			where, line, col, syn.Offset, err, around(body, syn.Offset))
	case errors.As(err, &typ):
		line, col := position(body, typ.Offset)
		return fmt.Errorf("GET %s: JSON does not fit at line %d, column %d (byte %d): %w", where, line, col, typ.Offset, err)
	default:
		return fmt.Errorf("GET %s: decode JSON: %w", where, err)
	}
}

// position converts a byte offset into 1-based line and column.
func position(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// around returns up to 40 bytes either side of off.
func around(b []byte, off int64) string {
	lo := max(off-40, 0)
	hi := min(off+40, int64(len(b)))
	if lo > hi {
		return ""
	}
	return string(b[lo:hi])
}
