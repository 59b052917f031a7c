package dynamicscrm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// Files are notes (annotations) with a document: listed through change
// tracking on the annotation table (without their bodies), read by fetching
// `documentbody` (base64, decoded as it is read), written as new notes on
// the record. Dataverse caps a note's attachment (5 MiB by default), so a
// body is at most that large in memory while it is decoded.

var (
	_ sdk.FileLister = (*Connector)(nil)
	_ sdk.FileReader = (*Connector)(nil)
	_ sdk.FileWriter = (*Connector)(nil)
)

const noteSelect = "annotationid,filename,mimetype,filesize,modifiedon,isdocument,objecttypecode,_objectid_value"

// ListFiles lists notes with documents; Cursor "" lists all, else changes
// since the delta link.
func (c *Connector) ListFiles(ctx context.Context, req sdk.ListFilesRequest, send func(sdk.FilePage) error) error {
	m, err := c.entity(ctx, "annotation")
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, e := range req.Entities {
		want[e] = true
	}
	next := req.Cursor
	if next == "" {
		next = c.api + "/" + m.set + "?$select=" + noteSelect
	}
	p := &odata.Pager{Client: c.http, MaxPageSize: c.cfg.PageSize, TrackChanges: true, Annotations: lookupAnnotation}
	for {
		var pg sdk.FilePage
		info, err := p.Page(ctx, next, func(row map[string]any) error {
			f, ok := noteFile(row)
			if !ok {
				// A note that lost its document is a deletion of its file.
				if id, _ := row["annotationid"].(string); id != "" {
					pg.Deleted = append(pg.Deleted, strings.ToLower(id))
				}
				return nil
			}
			if len(want) == 0 || want[f.Record.Entity] {
				pg.Files = append(pg.Files, f)
			}
			return nil
		})
		if err != nil {
			return c.fetchError(m, err)
		}
		for _, id := range info.Deleted {
			pg.Deleted = append(pg.Deleted, strings.ToLower(id))
		}
		pg.Cursor, pg.Done = info.NextLink, info.NextLink == ""
		if pg.Done {
			pg.Cursor = info.DeltaLink
		}
		if err := send(pg); err != nil {
			return err
		}
		if pg.Done {
			return nil
		}
		next = info.NextLink
	}
}

// noteFile reads a note row as a file (false when it has no document).
func noteFile(row map[string]any) (sdk.File, bool) {
	if doc, _ := row["isdocument"].(bool); !doc {
		return sdk.File{}, false
	}
	name, _ := row["filename"].(string)
	if name == "" {
		return sdk.File{}, false
	}
	id, _ := row["annotationid"].(string)
	f := sdk.File{ID: strings.ToLower(id), Name: name}
	f.MimeType, _ = row["mimetype"].(string)
	if n, ok := row["filesize"].(json.Number); ok {
		f.Size, _ = n.Int64()
	}
	f.Version, _ = row["@odata.etag"].(string)
	if s, ok := row["modifiedon"].(string); ok {
		f.ModifiedAt, _ = time.Parse(time.RFC3339Nano, s)
	}
	obj, _ := row["_objectid_value"].(string)
	ent, _ := row["objecttypecode"].(string)
	if ent == "" {
		ent, _ = row["_objectid_value@"+lookupAnnotation].(string)
	}
	f.Record = sdk.RecordRef{Entity: ent, ID: strings.ToLower(obj)}
	return f, true
}

// ReadFile reads a note's document from Offset.
func (c *Connector) ReadFile(ctx context.Context, req sdk.ReadFileRequest) (io.ReadCloser, sdk.File, error) {
	m, err := c.entity(ctx, "annotation")
	if err != nil {
		return nil, sdk.File{}, err
	}
	var row map[string]any
	u := c.api + "/" + m.set + "(" + req.ID + ")?$select=" + noteSelect + ",documentbody"
	resp, err := c.http.Stream(ctx, http.MethodGet, u, odata.Headers())
	if err != nil {
		e := odata.SDKError("read note "+req.ID, err)
		return nil, sdk.File{}, e
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&row); err != nil {
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "note " + req.ID + " is not JSON", Detail: err.Error()}
	}
	f, ok := noteFile(row)
	if !ok {
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeNotFound, Summary: "note " + req.ID + " has no document"}
	}
	body, _ := row["documentbody"].(string)
	var r io.Reader = base64.NewDecoder(base64.StdEncoding, strings.NewReader(body))
	if req.Offset > 0 {
		if _, err := io.CopyN(io.Discard, r, req.Offset); err != nil && err != io.EOF {
			return nil, sdk.File{}, fmt.Errorf("read note %s: %w", req.ID, err)
		}
	}
	if req.Length > 0 {
		r = io.LimitReader(r, req.Length)
	}
	return io.NopCloser(r), f, nil
}

// WriteFile creates a note with the document on the record. The body is
// base64-encoded as it streams into the request.
func (c *Connector) WriteFile(ctx context.Context, req sdk.WriteFileRequest, body io.Reader) (sdk.File, error) {
	m, err := c.entity(ctx, "annotation")
	if err != nil {
		return sdk.File{}, err
	}
	if strings.ContainsAny(req.Name, `/\`) || req.Name == "" || req.Name == "." || req.Name == ".." {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: fmt.Sprintf("file name %q is not allowed", req.Name)}
	}
	target, err := c.entity(ctx, req.Record.Entity)
	if err != nil {
		return sdk.File{}, err
	}
	mime := req.MimeType
	if mime == "" {
		mime = "application/octet-stream"
	}
	head, _ := json.Marshal(map[string]any{
		"subject": req.Name, "filename": req.Name, "mimetype": mime, "isdocument": true,
		"objectid_" + target.logical + "@odata.bind": "/" + target.set + "(" + req.Record.ID + ")",
	})
	pr, pw := io.Pipe()
	go func() {
		_, err := pw.Write(append(head[:len(head)-1], []byte(`,"documentbody":"`)...))
		if err == nil {
			enc := base64.NewEncoder(base64.StdEncoding, pw)
			_, err = io.Copy(enc, body)
			if cerr := enc.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			_, err = pw.Write([]byte(`"}`))
		}
		pw.CloseWithError(err)
	}()
	h := odata.Headers()
	h.Set("Content-Type", "application/json")
	// No return=representation: it would echo the whole document back.
	resp, err := c.http.Send(ctx, httpx.StreamRequest{Method: http.MethodPost, URL: c.api + "/" + m.set, Header: h, Body: pr, ContentLength: -1})
	pr.Close()
	if err != nil {
		return sdk.File{}, odata.SDKError(fmt.Sprintf("attach %s to %s %s", req.Name, req.Record.Entity, req.Record.ID), err)
	}
	defer resp.Body.Close()
	var row map[string]any
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if len(bytes.TrimSpace(b)) == 0 {
		// 204 No Content: the new note is named by OData-EntityId.
		loc := resp.Header.Get("OData-EntityId")
		i, j := strings.LastIndexByte(loc, '('), strings.LastIndexByte(loc, ')')
		if i < 0 || j < i {
			return sdk.File{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "the new note's answer names no record"}
		}
		u := c.api + "/" + m.set + "(" + loc[i+1:j] + ")?$select=" + noteSelect
		if b, err = c.getRaw(ctx, u); err != nil {
			return sdk.File{}, odata.SDKError("read the new note", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&row); err != nil {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "the new note's answer is not JSON", Detail: err.Error()}
	}
	f, ok := noteFile(row)
	if !ok {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "the new note has no document"}
	}
	if f.Record.Entity == "" {
		f.Record.Entity = req.Record.Entity
	}
	return f, nil
}

// getRaw GETs a small JSON document.
func (c *Connector) getRaw(ctx context.Context, u string) ([]byte, error) {
	resp, err := c.http.Stream(ctx, http.MethodGet, u, odata.Headers())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
