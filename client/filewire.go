package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file holds everything the client knows of the hub's file wire: the
// `_file` metadata in the changes feed, GET /v1/files/{id}/content and
// POST /v1/sources/{source}/files. When the hub's API settles, only this
// file changes.

// fileMeta is a `_file` op's metadata.
type fileMeta struct {
	Name         string
	MimeType     string
	Size         int64
	Hash         string
	Version      string
	ModifiedAt   *time.Time
	RecordEntity string
	RecordID     string
	Eager        bool
}

// parseFileMeta reads a `_file` op's fields. It accepts the shapes the
// hub's file pipeline may use: the record as {"record": {"entity", "id"}}
// or flat record_entity/record_id; eager as "mode": "eager" | "on_demand"
// or "eager": true; mime as mime_type or mime.
func parseFileMeta(raw []byte) (fileMeta, error) {
	var w struct {
		Name         string          `json:"name"`
		MimeType     string          `json:"mime_type"`
		Mime         string          `json:"mime"`
		ContentType  string          `json:"content_type"`
		Size         json.Number     `json:"size"`
		Hash         string          `json:"hash"`
		ContentHash  string          `json:"content_hash"`
		Version      string          `json:"version"`
		ModifiedAt   *time.Time      `json:"modified_at"`
		Record       *wireRecordRef  `json:"record"`
		RecordEntity string          `json:"record_entity"`
		RecordID     string          `json:"record_id"`
		Mode         string          `json:"mode"`
		Eager        json.RawMessage `json:"eager"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return fileMeta{}, fmt.Errorf("file metadata: %w", err)
	}
	m := fileMeta{Name: w.Name, MimeType: firstNonEmpty(w.MimeType, w.Mime, w.ContentType), Hash: firstNonEmpty(w.Hash, w.ContentHash),
		Version: w.Version, ModifiedAt: w.ModifiedAt, RecordEntity: w.RecordEntity, RecordID: w.RecordID}
	if w.Size != "" {
		n, err := w.Size.Int64()
		if err != nil {
			return fileMeta{}, fmt.Errorf("file metadata: size %q: %w", w.Size, err)
		}
		m.Size = n
	}
	if w.Record != nil {
		m.RecordEntity, m.RecordID = w.Record.Entity, w.Record.ID
	}
	switch {
	case strings.EqualFold(w.Mode, "eager"):
		m.Eager = true
	case len(w.Eager) > 0:
		_ = json.Unmarshal(w.Eager, &m.Eager)
	}
	return m, nil
}

type wireRecordRef struct {
	Entity string `json:"entity"`
	ID     string `json:"id"`
}

// contentResponse is an answer of GET /v1/files/{id}/content.
type contentResponse struct {
	// Status is 200 (whole content), 206 (from the offset asked) or 416
	// (offset at or past the end).
	Status int
	// Start is where Body begins (the Content-Range start for 206).
	Start int64
	// Total is the content's full length, -1 when unknown.
	Total int64
	ETag  string
	Body  io.ReadCloser
}

// fetchContent asks for a file's content from offset (0 = all). ifRange,
// when set, makes the hub send the whole content when the file changed
// since that ETag. The caller closes Body.
func (c *Client) fetchContent(ctx context.Context, fileID string, offset int64, ifRange string) (*contentResponse, error) {
	path := "/v1/files/" + url.PathEscape(fileID) + "/content"
	resp, err := c.authed(ctx, func(ctx context.Context, acct *accountRow) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, acct.HubURL+path, nil)
		if err != nil {
			return nil, err
		}
		if offset > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
			if ifRange != "" {
				req.Header.Set("If-Range", ifRange)
			}
		}
		return req, nil
	})
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	out := &contentResponse{Status: resp.StatusCode, Total: -1, ETag: resp.Header.Get("ETag"), Body: resp.Body}
	switch resp.StatusCode {
	case http.StatusOK:
		out.Total = resp.ContentLength
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			drain(resp)
			return nil, fmt.Errorf("GET %s: bad Content-Range %q", path, resp.Header.Get("Content-Range"))
		}
		out.Start, out.Total = start, total
	case http.StatusRequestedRangeNotSatisfiable:
		drain(resp)
		out.Body = io.NopCloser(strings.NewReader(""))
		if _, total, ok := parseContentRange(resp.Header.Get("Content-Range")); ok {
			out.Total = total
		}
	default:
		err := readAPIError("GET "+path, resp)
		_ = resp.Body.Close()
		return nil, err
	}
	return out, nil
}

// parseContentRange reads "bytes 100-199/1000" or "bytes */1000".
func parseContentRange(h string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(h, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return 0, total, true
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return s, total, true
}

// postFile uploads a file's content to a record: the body is the raw
// content, the record and name travel as query parameters.
func (c *Client) postFile(ctx context.Context, source, entity, recordID, name, mime string, size int64, open func() (io.ReadCloser, error)) error {
	path := sourcePath(source, "/files")
	q := url.Values{"entity": {entity}, "id": {recordID}, "name": {name}}
	resp, err := c.authed(ctx, func(ctx context.Context, acct *accountRow) (*http.Request, error) {
		body, err := open()
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, acct.HubURL+path+"?"+q.Encode(), body)
		if err != nil {
			_ = body.Close()
			return nil, err
		}
		req.ContentLength = size
		if mime == "" {
			mime = "application/octet-stream"
		}
		req.Header.Set("Content-Type", mime)
		return req, nil
	})
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer drain(resp)
	return decodeResponse("POST "+path, resp, nil)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
