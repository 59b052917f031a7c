package odata

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/synchub/synchub/sdk/httpx"
)

// StatusNotExecuted is the status ReadBatch gives a request the service
// did not run: another request of its change set failed (and the answer
// named it), or the batch stopped at an earlier failure (continue-on-error
// off). It is 424 Failed Dependency, as OData 4.01's JSON batch format
// answers such requests.
const StatusNotExecuted = http.StatusFailedDependency

// BatchRequest is one request of a `$batch`.
type BatchRequest struct {
	Method string
	// URL is the request's target: a path ("/api/data/v9.2/accounts(…)"),
	// an absolute URL, or "$n" (optionally "$n/…") referencing the
	// Content-ID of an earlier request of the same change set.
	URL    string
	Header http.Header
	Body   []byte
	// ContentID names the request for `$n` references and for matching
	// its answer. Batch numbers the requests that leave it empty: the i-th
	// request added (from 0) gets i+1, unique across the batch as OData
	// 4.01 asks.
	ContentID string
}

// BatchResponse is the answer to one request of a batch.
type BatchResponse struct {
	Status int
	Header http.Header
	Body   []byte
	// SetFailure marks the one answer a change set got for failing as a
	// whole without naming the request that failed: it stands for every
	// request of the set, none of which was applied.
	SetFailure bool
}

// Batch is the content of a `$batch` request: parts in the order added,
// each a request of its own or an atomic change set (all or nothing; no
// GET inside).
type Batch struct {
	parts []batchPart
	n     int
}

type batchPart struct {
	reqs      []BatchRequest
	changeSet bool
	first     int // index of reqs[0] among all requests
}

// Add appends a request outside any change set (a GET, or a write that
// succeeds or fails alone) and returns its index among the batch's
// requests.
func (b *Batch) Add(r BatchRequest) int {
	return b.add([]BatchRequest{r}, false)
}

// AddChangeSet appends an atomic change set and returns the index of its
// first request.
func (b *Batch) AddChangeSet(rs ...BatchRequest) int {
	return b.add(rs, true)
}

func (b *Batch) add(rs []BatchRequest, set bool) int {
	p := batchPart{reqs: slices.Clone(rs), changeSet: set, first: b.n}
	for i := range p.reqs {
		if p.reqs[i].ContentID == "" {
			p.reqs[i].ContentID = strconv.Itoa(b.n + i + 1)
		}
	}
	b.parts = append(b.parts, p)
	b.n += len(rs)
	return p.first
}

// Len is the number of requests in the batch.
func (b *Batch) Len() int { return b.n }

// Ref is the `$n` reference to request i, for a later request of the same
// change set (as its URL, or an @odata.bind value).
func (b *Batch) Ref(i int) string {
	if r := b.request(i); r != nil {
		return "$" + r.ContentID
	}
	return ""
}

func (b *Batch) request(i int) *BatchRequest {
	for pi := range b.parts {
		p := &b.parts[pi]
		if i >= p.first && i < p.first+len(p.reqs) {
			return &p.reqs[i-p.first]
		}
	}
	return nil
}

// Write writes the batch as multipart/mixed with CRLF line endings, as
// OData requires, and returns the Content-Type to send it with. Request
// headers are written in a stable order.
func (b *Batch) Write(w io.Writer) (contentType string, err error) {
	if b.n == 0 {
		return "", errors.New("odata: empty $batch")
	}
	seen := map[string]bool{}
	for _, p := range b.parts {
		for _, r := range p.reqs {
			if seen[r.ContentID] {
				return "", fmt.Errorf("odata: $batch Content-ID %q is used twice", r.ContentID)
			}
			seen[r.ContentID] = true
			if strings.ContainsAny(r.Method+r.URL, " \r\n") {
				return "", fmt.Errorf("odata: $batch request %s %q has a space or line break in its request line", r.Method, r.URL)
			}
		}
	}
	batch := "batch_" + uuid.NewString()
	cw := &crlfWriter{w: w}
	for _, p := range b.parts {
		cw.line("--" + batch)
		if !p.changeSet {
			writeRequest(cw, p.reqs[0], false)
			continue
		}
		cs := "changeset_" + uuid.NewString()
		cw.line("Content-Type: multipart/mixed; boundary=" + cs)
		cw.line("")
		for _, r := range p.reqs {
			cw.line("--" + cs)
			writeRequest(cw, r, true)
		}
		cw.line("--" + cs + "--")
	}
	cw.line("--" + batch + "--")
	return "multipart/mixed; boundary=" + batch, cw.err
}

// writeRequest writes one application/http part after its delimiter.
func writeRequest(cw *crlfWriter, r BatchRequest, withID bool) {
	cw.line("Content-Type: application/http")
	cw.line("Content-Transfer-Encoding: binary")
	if withID {
		cw.line("Content-ID: " + r.ContentID)
	}
	cw.line("")
	cw.line(r.Method + " " + r.URL + " HTTP/1.1")
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if len(r.Body) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			cw.line(k + ": " + v)
		}
	}
	cw.line("")
	if len(r.Body) > 0 {
		cw.raw(r.Body)
		cw.line("")
	}
}

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

// ReadBatch reads a `$batch` answer and returns one BatchResponse per
// request of b, in the order the requests were added. Answers are matched
// to b's parts in order (the service answers them in order); inside a
// change set by Content-ID, else in order. A change set answered by a
// single response failed: the request it names by Content-ID gets it and
// the others StatusNotExecuted; a response naming none is given to every
// request of the set with SetFailure. Requests left without an answer (the
// batch stopped at a failure) get StatusNotExecuted.
func ReadBatch(contentType string, body io.Reader, b *Batch) ([]BatchResponse, error) {
	parts, err := readParts(contentType, body, 0)
	if err != nil {
		return nil, err
	}
	if len(parts) > len(b.parts) {
		return nil, fmt.Errorf("%w: $batch answer has %d parts for %d sent", ErrBadBody, len(parts), len(b.parts))
	}
	out := make([]BatchResponse, b.n)
	answered := make([]bool, b.n)
	for pi, rp := range parts {
		bp := b.parts[pi]
		switch {
		case rp.set != nil:
			if err := answerSet(bp, rp.set, out, answered); err != nil {
				return nil, err
			}
		case !bp.changeSet || (len(bp.reqs) == 1 && rp.res.Status < 400):
			// A request of its own, or a one-request change set that a
			// service answered without nesting.
			out[bp.first], answered[bp.first] = rp.res, true
		case rp.res.Status < 400:
			return nil, fmt.Errorf("%w: $batch answers a change set of %d requests with one success", ErrBadBody, len(bp.reqs))
		default:
			k := slices.IndexFunc(bp.reqs, func(r BatchRequest) bool { return rp.id != "" && r.ContentID == rp.id })
			for j := range bp.reqs {
				switch {
				case k < 0:
					out[bp.first+j] = rp.res
					out[bp.first+j].SetFailure = true
				case j == k:
					out[bp.first+j] = rp.res
				default:
					out[bp.first+j] = BatchResponse{Status: StatusNotExecuted}
				}
				answered[bp.first+j] = true
			}
		}
	}
	for i := range out {
		if !answered[i] {
			out[i] = BatchResponse{Status: StatusNotExecuted}
		}
	}
	return out, nil
}

// answerSet maps a change set's answers to its requests.
func answerSet(bp batchPart, set []respPart, out []BatchResponse, answered []bool) error {
	next := 0
	for _, rp := range set {
		k := slices.IndexFunc(bp.reqs, func(r BatchRequest) bool { return rp.id != "" && r.ContentID == rp.id })
		if k < 0 {
			for next < len(bp.reqs) && answered[bp.first+next] {
				next++
			}
			k = next
		}
		if k >= len(bp.reqs) || answered[bp.first+k] {
			return fmt.Errorf("%w: $batch change set answer has more parts than requests", ErrBadBody)
		}
		out[bp.first+k], answered[bp.first+k] = rp.res, true
	}
	for j := range bp.reqs {
		if !answered[bp.first+j] {
			return fmt.Errorf("%w: $batch change set answer lacks request %s %s", ErrBadBody, bp.reqs[j].Method, Redact(bp.reqs[j].URL))
		}
	}
	return nil
}

// respPart is one part of a batch answer: a response, or a change set's
// nested answers.
type respPart struct {
	id  string
	res BatchResponse
	set []respPart
}

func readParts(contentType string, body io.Reader, depth int) ([]respPart, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: $batch answer is %q, not multipart with a boundary", ErrBadBody, contentType)
	}
	if depth > 1 {
		return nil, fmt.Errorf("%w: $batch answer nests change sets", ErrBadBody)
	}
	mr := multipart.NewReader(body, params["boundary"])
	var out []respPart
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: $batch answer: %v", ErrBadBody, err)
		}
		ct := p.Header.Get("Content-Type")
		if strings.HasPrefix(strings.ToLower(ct), "multipart/") {
			inner, err := readParts(ct, p, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, respPart{set: inner})
			continue
		}
		res, inID, err := readHTTP(p)
		if err != nil {
			return nil, err
		}
		id := strings.TrimSpace(p.Header.Get("Content-ID"))
		if id == "" {
			id = inID
		}
		out = append(out, respPart{id: id, res: res})
	}
}

// readHTTP reads an application/http part: a whole HTTP response. The
// status line and headers are read here (parseHTTP); a part that uses a
// transfer coding, which a batch answer has no need of, goes through
// net/http. The parser matters for speed: a batch answer has a part per
// record, and net/http set up a buffered reader and a header map for each.
func readHTTP(r io.Reader) (BatchResponse, string, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return BatchResponse{}, "", fmt.Errorf("odata: $batch answer part: %w", err)
	}
	raw = bytes.TrimLeft(raw, "\r\n")
	res, ok := parseHTTP(raw)
	if !ok {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return BatchResponse{}, "", fmt.Errorf("%w: $batch answer part is not an HTTP response: %v: %s", ErrBadBody, err, snippet(raw))
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return BatchResponse{}, "", fmt.Errorf("%w: $batch answer part body: %v", ErrBadBody, err)
		}
		res = BatchResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	res.Body = bytes.TrimSpace(res.Body)
	return res, res.Header.Get("Content-ID"), nil
}

// parseHTTP reads "HTTP/1.x <code> <reason>", the headers and the body
// (Content-Length long, else the rest). ok is false for anything it does
// not read as net/http would: a malformed line, a transfer coding.
func parseHTTP(raw []byte) (res BatchResponse, ok bool) {
	line, rest := cutLine(raw)
	proto, status, _ := bytes.Cut(line, []byte(" "))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(status) < 3 {
		return res, false
	}
	code, err := strconv.Atoi(string(status[:3]))
	if err != nil || code < 100 || len(status) > 3 && status[3] != ' ' {
		return res, false
	}
	res.Status, res.Header = code, http.Header{}
	for {
		if len(rest) == 0 {
			return res, false // no blank line after the headers
		}
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		k, v, found := bytes.Cut(line, []byte(":"))
		if !found || len(k) == 0 || k[0] == ' ' || k[0] == '\t' {
			return res, false // not a header, or a folded one
		}
		key := http.CanonicalHeaderKey(string(bytes.TrimSpace(k)))
		if key == "Transfer-Encoding" {
			return res, false
		}
		res.Header[key] = append(res.Header[key], string(bytes.TrimSpace(v)))
	}
	res.Body = rest
	if cl := res.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > len(rest) {
			return res, false
		}
		res.Body = rest[:n]
	}
	return res, true
}

// cutLine splits b after its first line, which ends at LF or CRLF.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	return bytes.TrimSuffix(line, []byte("\r")), rest
}

// DoBatch posts b to batchURL (the service's `$batch` endpoint) with the
// preferences p (ContinueOnError most often) and returns ReadBatch's
// answer. The batch-level 400 a service sends when a part fails without
// continue-on-error carries the parts answered so far; it is read like a
// 200. Other failures (throttling beyond the client's retries, an error
// body, the network) are returned as errors for SDKError. The body is
// buffered, so a 429 is retried by the client like any request.
func DoBatch(ctx context.Context, c *httpx.Client, batchURL string, b *Batch, p Prefer) ([]BatchResponse, error) {
	var buf bytes.Buffer
	ct, err := b.Write(&buf)
	if err != nil {
		return nil, err
	}
	req := c.R(ctx).SetHeaderMultiValues(Headers()).SetHeader("Content-Type", ct).SetBody(buf.Bytes())
	if s := p.String(); s != "" {
		req.SetHeader("Prefer", s)
	}
	resp, err := req.Post(batchURL)
	if err != nil {
		var se *httpx.StatusError
		if resp != nil && errors.As(err, &se) && se.StatusCode == http.StatusBadRequest && isMultipart(resp.Header().Get("Content-Type")) {
			return ReadBatch(resp.Header().Get("Content-Type"), bytes.NewReader(resp.Body()), b)
		}
		return nil, fmt.Errorf("POST %s: %w", Redact(batchURL), err)
	}
	out, err := ReadBatch(resp.Header().Get("Content-Type"), bytes.NewReader(resp.Body()), b)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", Redact(batchURL), err)
	}
	return out, nil
}

func isMultipart(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.HasPrefix(mt, "multipart/")
}
