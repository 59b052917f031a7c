package emulator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// $batch (OData 4.0 multipart/mixed). Parts are application/http requests;
// a nested multipart/mixed part is a change set whose operations are atomic:
// the store lock is held for the whole change set and every write is
// recorded so a failure rolls all of them back. Inside a change set
// Content-ID values can be referenced as $n in URLs and @odata.bind values.

const maxBatchOps = 1000

type batchOp struct {
	method    string
	target    string
	header    http.Header
	body      []byte
	contentID string
}

type batchItem struct {
	op        *batchOp
	changeset []*batchOp
}

func (s *Server) serveBatch(req *apiRequest) *apiResponse {
	items, total, err := parseBatch(req)
	if err != nil {
		return errorResponse(err, req.pref)
	}
	if terr := s.auth.spend(req.token, max(1, total), s.opts.RequestBudget, s.opts.BudgetWindow, s.now()); terr != nil {
		s.throttled.Add(1)
		return errorResponse(terr, req.pref)
	}
	boundary := "batchresponse_" + uuid.NewString()
	var out bytes.Buffer
	status := http.StatusOK
	for _, it := range items {
		failed := false
		if it.op != nil {
			resp := s.dispatch(&opCtx{}, s.opRequest(req, it.op, nil))
			writePart(&out, boundary, "", resp)
			failed = resp.status >= 400
		} else {
			failed = s.runChangeset(req, it.changeset, &out, boundary)
		}
		if failed && !req.pref.continueOnError {
			status = http.StatusBadRequest
			break
		}
	}
	out.WriteString("--" + boundary + "--\r\n")
	resp := newResponse(status)
	resp.header.Set("Content-Type", "multipart/mixed; boundary="+boundary)
	if req.pref.continueOnError {
		resp.header.Set("Preference-Applied", "odata.continue-on-error")
	}
	resp.body = out.Bytes()
	return resp
}

// runChangeset executes a change set atomically and writes its response
// part; it reports whether the change set failed.
func (s *Server) runChangeset(req *apiRequest, ops []*batchOp, out *bytes.Buffer, boundary string) bool {
	ctx := &opCtx{tx: &txn{}, cids: map[string]string{}}
	s.st.mu.Lock()
	var resps []*apiResponse
	var failure *apiResponse
	for _, op := range ops {
		resp := s.dispatch(ctx, s.opRequest(req, op, ctx.cids))
		if resp.status >= 400 {
			failure = resp
			break
		}
		resps = append(resps, resp)
		if op.contentID != "" {
			if loc := resp.header.Get("OData-EntityId"); loc != "" {
				if i := strings.LastIndex(loc, "/"); i >= 0 {
					ctx.cids[op.contentID] = loc[i+1:]
				}
			}
		}
	}
	if failure != nil {
		s.st.rollback(ctx.tx)
	}
	s.st.mu.Unlock()
	if failure != nil {
		// A failed change set is answered by one response for the whole set.
		writePart(out, boundary, "", failure)
		return true
	}
	csb := "changesetresponse_" + uuid.NewString()
	out.WriteString("--" + boundary + "\r\n")
	out.WriteString("Content-Type: multipart/mixed; boundary=" + csb + "\r\n\r\n")
	for i, resp := range resps {
		writePart(out, csb, ops[i].contentID, resp)
	}
	out.WriteString("--" + csb + "--\r\n")
	return false
}

// opRequest turns a batch part into an apiRequest, resolving $n references.
func (s *Server) opRequest(outer *apiRequest, op *batchOp, cids map[string]string) *apiRequest {
	target := op.target
	if strings.HasPrefix(target, "$") && cids != nil {
		ref, rest, _ := strings.Cut(strings.TrimPrefix(target, "$"), "/")
		if path, ok := cids[ref]; ok {
			target = path
			if rest != "" {
				target += "/" + rest
			}
		}
	}
	if u, err := url.Parse(target); err == nil && u.IsAbs() {
		target = u.RequestURI()
	}
	ver := outer.ver
	if i := strings.Index(target, "/api/data/"); i >= 0 {
		target = target[i+len("/api/data/"):]
		v, after, _ := strings.Cut(target, "/")
		if v == "v9.0" || v == "v9.1" || v == "v9.2" {
			ver, target = v, after
		}
	}
	target = strings.TrimPrefix(target, "/")
	path, rawQ, _ := strings.Cut(target, "?")
	h := op.header.Clone()
	h.Set("X-Emulator-In-Batch", "1")
	return &apiRequest{method: op.method, path: path, rawQ: rawQ, query: parseQuery(rawQ), header: h, body: op.body,
		base: outer.base, ver: ver, token: outer.token, pref: parsePrefer(h)}
}

func batchErr(format string, args ...any) *apiError {
	return newErr(http.StatusBadRequest, codeQuery, format, args...)
}

// parseBatch reads the multipart body into operations and change sets.
func parseBatch(req *apiRequest) ([]batchItem, int, *apiError) {
	mt, params, err := mime.ParseMediaType(req.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, 0, batchErr("The batch request must have a \"Content-Type\" header of \"multipart/mixed\" with a boundary parameter.")
	}
	mr := multipart.NewReader(bytes.NewReader(req.body), params["boundary"])
	var items []batchItem
	total := 0
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, batchErr("The batch request body is not a valid multipart/mixed message: %v", err)
		}
		ct, cparams, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "multipart/mixed":
			cs, err := parseChangeset(p, cparams["boundary"])
			if err != nil {
				return nil, 0, err
			}
			if len(cs) > maxBatchOps {
				return nil, 0, batchErr("The current change set contains too many operations. Only change sets with a maximum number of '%d' operations are allowed.", maxBatchOps)
			}
			items = append(items, batchItem{changeset: cs})
			total += len(cs)
		case "application/http":
			op, err := parseOp(p)
			if err != nil {
				return nil, 0, err
			}
			items = append(items, batchItem{op: op})
			total++
		default:
			return nil, 0, batchErr("The content type '%s' of a batch part is not supported; expected 'application/http' or 'multipart/mixed'.", ct)
		}
		if len(items) > maxBatchOps || total > maxBatchOps {
			return nil, 0, batchErr("The current batch message contains too many parts. Only batch messages with a maximum number of '%d' query operations and change sets are allowed.", maxBatchOps)
		}
	}
	if len(items) == 0 {
		return nil, 0, batchErr("The batch request contains no parts.")
	}
	return items, total, nil
}

func parseChangeset(r io.Reader, boundary string) ([]*batchOp, *apiError) {
	if boundary == "" {
		return nil, batchErr("A change set part must declare a boundary.")
	}
	mr := multipart.NewReader(r, boundary)
	var ops []*batchOp
	seen := map[string]bool{}
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, batchErr("The change set is not a valid multipart/mixed message: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ct != "application/http" {
			return nil, batchErr("The content type '%s' of a change set part is not supported; expected 'application/http'.", ct)
		}
		op, perr := parseOp(p)
		if perr != nil {
			return nil, perr
		}
		if !slices.Contains([]string{http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete}, op.method) {
			return nil, batchErr("An invalid HTTP method '%s' was detected for a request in a change set. Requests in change sets only support the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'.", op.method)
		}
		if op.contentID != "" {
			if seen[op.contentID] {
				return nil, batchErr("The content ID '%s' was found more than once in the same change set or same batch request. Content IDs have to be unique across all operations of a change set for OData V4.0 and have to be unique across all operations in the whole batch request for OData V4.01.", op.contentID)
			}
			seen[op.contentID] = true
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil, batchErr("The change set contains no operations.")
	}
	return ops, nil
}

// parseOp reads an application/http part: request line, headers, body.
func parseOp(p *multipart.Part) (*batchOp, *apiError) {
	raw, err := io.ReadAll(p)
	if err != nil {
		return nil, batchErr("A batch part could not be read: %v", err)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	line, err := br.ReadString('\n')
	for err == nil && strings.TrimSpace(line) == "" {
		line, err = br.ReadString('\n')
	}
	f := strings.Fields(line)
	if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/") {
		return nil, batchErr("The request line '%s' of a batch part is not valid.", strings.TrimSpace(line))
	}
	hdr, herr := textproto.NewReader(br).ReadMIMEHeader()
	if herr != nil && !errors.Is(herr, io.EOF) {
		return nil, batchErr("The headers of a batch part are not valid: %v", herr)
	}
	body, _ := io.ReadAll(br)
	op := &batchOp{method: strings.ToUpper(f[0]), target: f[1], header: http.Header(hdr), body: bytes.TrimSpace(body)}
	op.contentID = strings.TrimSpace(p.Header.Get("Content-ID"))
	if op.contentID == "" {
		op.contentID = strings.TrimSpace(hdr.Get("Content-ID"))
	}
	if strings.Contains(op.target, "$batch") {
		return nil, batchErr("Nested batch requests are not supported.")
	}
	return op, nil
}

// partHeaderOrder is the order response headers appear in a part, as in the
// documented examples.
var partHeaderOrder = []string{"REQ_ID", "Content-Type", "OData-Version", "Location", "OData-EntityId", "ETag", "Preference-Applied", "Retry-After"}

// writePart writes one application/http part: "--boundary", part headers,
// blank line, the HTTP response, and the CRLF that precedes the next
// delimiter.
func writePart(out *bytes.Buffer, boundary, contentID string, resp *apiResponse) {
	out.WriteString("--" + boundary + "\r\n")
	out.WriteString("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
	if contentID != "" {
		out.WriteString("Content-ID: " + contentID + "\r\n")
	}
	out.WriteString("\r\n")
	fmt.Fprintf(out, "HTTP/1.1 %d %s\r\n", resp.status, http.StatusText(resp.status))
	h := resp.header.Clone()
	if resp.status >= 400 {
		h.Set("REQ_ID", uuid.NewString())
	}
	for _, k := range partHeaderOrder {
		if v := h.Get(k); v != "" {
			out.WriteString(k + ": " + v + "\r\n")
		}
	}
	out.WriteString("\r\n")
	out.Write(resp.body)
	out.WriteString("\r\n")
}
