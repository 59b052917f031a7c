package odata

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// BatchOp is one request inside a `$batch` change set.
type BatchOp struct {
	Method string
	// URL is the request's path (e.g. /api/data/v9.2/accounts(<id>)) or a
	// `$n` reference to an earlier op of the same change set.
	URL    string
	Header http.Header
	Body   []byte
}

// BatchResult is one op's response.
type BatchResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// WriteBatch writes a multipart/mixed `$batch` body with one change set per
// element of sets (a change set is all-or-nothing) and returns its
// Content-Type. Lines end in CRLF as the protocol demands.
func WriteBatch(w io.Writer, sets [][]BatchOp) (contentType string, err error) {
	batch := "batch_" + uuid.NewString()
	bw := &crlfWriter{w: w}
	for i, set := range sets {
		cs := "changeset_" + uuid.NewString()
		bw.line("--" + batch)
		bw.line("Content-Type: multipart/mixed; boundary=" + cs)
		bw.line("")
		for j, op := range set {
			bw.line("--" + cs)
			bw.line("Content-Type: application/http")
			bw.line("Content-Transfer-Encoding: binary")
			bw.line("Content-ID: " + contentID(i, j))
			bw.line("")
			bw.line(op.Method + " " + op.URL + " HTTP/1.1")
			h := op.Header.Clone()
			if h == nil {
				h = http.Header{}
			}
			if len(op.Body) > 0 && h.Get("Content-Type") == "" {
				h.Set("Content-Type", "application/json")
			}
			for k, vs := range h {
				for _, v := range vs {
					bw.line(k + ": " + v)
				}
			}
			bw.line("")
			if len(op.Body) > 0 {
				bw.raw(op.Body)
				bw.line("")
			}
		}
		bw.line("--" + cs + "--")
	}
	bw.line("--" + batch + "--")
	return "multipart/mixed; boundary=" + batch, bw.err
}

// contentID numbers ops across the whole batch so ids are unique.
func contentID(set, op int) string { return strconv.Itoa(set*10000 + op + 1) }

type crlfWriter struct {
	w   io.Writer
	err error
}

func (c *crlfWriter) line(s string) { c.raw([]byte(s + "\r\n")) }

func (c *crlfWriter) raw(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// ReadBatch parses a `$batch` response for the change sets sent, returning
// one result per op. A change set that failed as a whole (one response part
// for several ops) gives every op of it that part's response.
func ReadBatch(contentType string, body io.Reader, sets [][]BatchOp) ([][]BatchResult, error) {
	parts, err := readParts(contentType, body)
	if err != nil {
		return nil, err
	}
	out := make([][]BatchResult, len(sets))
	byID := map[string]BatchResult{}
	var loose []BatchResult // parts without Content-ID: whole change set failures
	for _, p := range parts {
		if p.id != "" {
			byID[p.id] = p.res
		} else {
			loose = append(loose, p.res)
		}
	}
	for i, set := range sets {
		out[i] = make([]BatchResult, len(set))
		complete := true
		for j := range set {
			r, ok := byID[contentID(i, j)]
			if !ok {
				complete = false
				break
			}
			out[i][j] = r
		}
		if complete {
			continue
		}
		if len(loose) == 0 {
			return nil, fmt.Errorf("odata: $batch response has no answer for change set %d", i+1)
		}
		failure := loose[0]
		loose = loose[1:]
		for j := range set {
			out[i][j] = failure
		}
	}
	return out, nil
}

type part struct {
	id  string
	res BatchResult
}

func readParts(contentType string, body io.Reader) ([]part, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return nil, fmt.Errorf("odata: $batch response is %q, not multipart", contentType)
	}
	mr := multipart.NewReader(body, params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("odata: $batch response: %w", err)
		}
		ct := p.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/") {
			inner, err := readParts(ct, p)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		res, err := readHTTP(p)
		if err != nil {
			return nil, err
		}
		out = append(out, part{id: textproto.MIMEHeader(p.Header).Get("Content-ID"), res: res})
	}
}

func readHTTP(r io.Reader) (BatchResult, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return BatchResult{}, fmt.Errorf("odata: $batch part: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return BatchResult{}, fmt.Errorf("odata: $batch part is not an HTTP response: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && len(b) == 0 {
		b = nil
	}
	return BatchResult{Status: resp.StatusCode, Header: resp.Header, Body: bytes.TrimSpace(b)}, nil
}
