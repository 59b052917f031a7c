package dynamicscrm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// Files are notes (the annotation table) that carry a document: listed
// through change tracking on annotations, without their bodies; read by
// streaming `documentbody` (base64 inside JSON) through a decoder; written
// as a new note on the record, the body base64-encoded as it streams into
// the request. A note's file id is its annotationid, its record the note's
// objectid (objecttypecode names the table).

const (
	noteTable  = "annotation"
	noteSelect = "annotationid,filename,mimetype,filesize,modifiedon,isdocument,objecttypecode,_objectid_value"
)

// noteNamespace derives notes' ids from write keys (UUID version 5).
var noteNamespace = uuid.MustParse("5b0f6c1e-3a52-4c8e-9d7a-2f1e8b4c6d30")

// noteIDOf is the id of the note a write key makes.
func noteIDOf(key string) string { return uuid.NewSHA1(noteNamespace, []byte(key)).String() }

// writtenNote answers a retried write with the note its first attempt
// made, once it is sure that note is this write's: a document with the
// same name on the same record.
func (c *Connector) writtenNote(ctx context.Context, m, target *entityMeta, noteID string, req sdk.WriteFileRequest) (sdk.File, error) {
	var row odata.Row
	if err := c.http.GetJSON(ctx, c.api+"/"+m.set+"("+noteID+")?$select="+noteSelect, &row); err != nil {
		return sdk.File{}, c.callError("read the note of an earlier attempt "+noteID, err)
	}
	f, isDoc := noteFile(row)
	if !isDoc || f.Name != req.Name || !strings.EqualFold(f.Record.ID, req.Record.ID) {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: target.logical,
			Summary: fmt.Sprintf("note %s of write key %q exists but is not %q on %s %s", noteID, req.Key, req.Name, target.logical, req.Record.ID)}
	}
	if f.Record.Entity == "" {
		f.Record.Entity = target.logical
	}
	c.log.Info("a retried file write found the note of its first attempt", "note", noteID, "record", req.Record.ID)
	return f, nil
}

// ListFiles lists notes with documents: all of them from Cursor "", else
// the changes since the cursor (a delta link). A note that lost its
// document or was deleted is a deleted file.
func (c *Connector) ListFiles(ctx context.Context, req sdk.ListFilesRequest, send func(sdk.FilePage) error) error {
	m, err := c.entity(ctx, noteTable)
	if err != nil {
		return err
	}
	link := req.Cursor
	if link == "" {
		link = c.api + "/" + m.set + "?$select=" + noteSelect
	} else if !c.ours(link) {
		return &sdk.Error{Code: sdk.CodeCursorExpired, Entity: noteTable, Summary: "cursor expired", Detail: "the file cursor is not a link of " + c.cfg.URL}
	}
	var pg sdk.FilePage
	var gone []string
	// Every page asks for change tracking: a listing's nextLinks need it,
	// and a delta link ignores it.
	pager := c.pager(c.cfg.PageSize, true)
	err = pager.Each(ctx, link, func(row odata.Row) error {
		f, isDoc := noteFile(row)
		switch {
		case !isDoc:
			gone = append(gone, f.ID)
		case len(req.Entities) == 0 || slices.Contains(req.Entities, f.Record.Entity):
			pg.Files = append(pg.Files, f)
		}
		return nil
	}, func(info odata.PageInfo) error {
		if strings.HasSuffix(info.Context, "/$delta") {
			// In a delta a note without a document lost it; in a full
			// listing it never had one.
			pg.Deleted = append(pg.Deleted, gone...)
		}
		for _, id := range info.Deleted {
			pg.Deleted = append(pg.Deleted, strings.ToLower(id))
		}
		pg.Cursor = info.NextLink
		if info.NextLink == "" {
			pg.Done, pg.Cursor = true, info.DeltaLink
		}
		out := pg
		pg, gone = sdk.FilePage{}, nil
		return send(out)
	})
	if err != nil {
		return (&pass{c: c, m: m}).fetchError(err, req.Cursor != "")
	}
	return nil
}

// noteFile reads a note row as a file; false when it carries no document.
func noteFile(row odata.Row) (sdk.File, bool) {
	id, _ := row["annotationid"].(string)
	f := sdk.File{ID: strings.ToLower(id), Version: odata.ETag(row)}
	f.Name, _ = row["filename"].(string)
	if doc, _ := row["isdocument"].(bool); !doc || f.Name == "" {
		return f, false
	}
	f.MimeType, _ = row["mimetype"].(string)
	switch n := row["filesize"].(type) {
	case json.Number:
		f.Size, _ = n.Int64()
	case float64:
		f.Size = int64(n)
	}
	if s, ok := row["modifiedon"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			f.ModifiedAt = t.UTC()
		}
	}
	obj, _ := row["_objectid_value"].(string)
	ent, _ := row["objecttypecode"].(string)
	if ent == "" {
		ent, _ = row["_objectid_value@"+lookupAnnotation].(string)
	}
	f.Record = sdk.RecordRef{Entity: ent, ID: strings.ToLower(obj)}
	return f, true
}

// ReadFile streams a note's document from Offset: the base64 text is
// unescaped from the JSON and decoded as it is read, never held whole.
// Base64 maps 3 bytes to 4 characters, so an offset skips 4·⌊Offset/3⌋
// characters undecoded and decodes only the last Offset mod 3 bytes.
func (c *Connector) ReadFile(ctx context.Context, req sdk.ReadFileRequest) (io.ReadCloser, sdk.File, error) {
	m, err := c.entity(ctx, noteTable)
	if err != nil {
		return nil, sdk.File{}, err
	}
	if !isGUID(req.ID) || req.Offset < 0 || req.Length < 0 {
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: fmt.Sprintf("read file %q from %d for %d bytes: not a note id or a bad range", req.ID, req.Offset, req.Length)}
	}
	note := c.api + "/" + m.set + "(" + strings.ToLower(req.ID) + ")"
	var row odata.Row
	if err := c.http.GetJSON(ctx, note+"?$select="+noteSelect, &row); err != nil {
		return nil, sdk.File{}, c.callError("read note "+req.ID, err)
	}
	f, isDoc := noteFile(row)
	if !isDoc {
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeNotFound, Summary: "note " + req.ID + " has no document"}
	}
	resp, err := c.http.Stream(ctx, http.MethodGet, note+"?$select=documentbody", odata.Headers())
	if err != nil {
		return nil, sdk.File{}, c.callError("read the document of note "+req.ID, err)
	}
	body, err := c.documentReader(resp.Body, req)
	if err != nil {
		resp.Body.Close()
		return nil, sdk.File{}, c.callError("read the document of note "+req.ID, err)
	}
	return &readCloser{Reader: body, Closer: resp.Body}, f, nil
}

// documentReader positions a decoder of the note's documentbody at
// req.Offset and bounds it to req.Length.
func (c *Connector) documentReader(body io.Reader, req sdk.ReadFileRequest) (io.Reader, error) {
	text, err := odata.PropertyReader(body, "documentbody")
	if err != nil {
		return nil, err
	}
	// Line breaks (if a service ever wraps base64) would shift the
	// arithmetic: drop them before counting.
	text = &noNewlines{r: text}
	if skip := req.Offset / 3 * 4; skip > 0 {
		if _, err := io.CopyN(io.Discard, text, skip); err != nil && err != io.EOF {
			return nil, err
		}
	}
	var r io.Reader = base64.NewDecoder(base64.StdEncoding, text)
	if rest := req.Offset % 3; rest > 0 {
		if _, err := io.CopyN(io.Discard, r, rest); err != nil && err != io.EOF {
			return nil, err
		}
	}
	if req.Length > 0 {
		r = io.LimitReader(r, req.Length)
	}
	return r, nil
}

// noNewlines drops CR and LF.
type noNewlines struct{ r io.Reader }

func (n *noNewlines) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		kept := p[:k]
		if bytes.IndexByte(kept, '\n') >= 0 || bytes.IndexByte(kept, '\r') >= 0 {
			kept = p[:0]
			for _, c := range p[:k] {
				if c != '\r' && c != '\n' {
					kept = append(kept, c)
				}
			}
		}
		if len(kept) > 0 || err != nil {
			return len(kept), err
		}
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// WriteFile creates a note with the document on the record. The body is
// base64-encoded as it streams into the request (io.Pipe): at most a
// buffer of it is in memory. With Size known the request has a
// Content-Length. The answer selects the note's metadata only, so the
// document is not echoed back.
func (c *Connector) WriteFile(ctx context.Context, req sdk.WriteFileRequest, body io.Reader) (sdk.File, error) {
	m, err := c.entity(ctx, noteTable)
	if err != nil {
		return sdk.File{}, err
	}
	if req.Name == "" || req.Name == "." || req.Name == ".." || strings.ContainsAny(req.Name, "/\\\x00") {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: fmt.Sprintf("file name %q is not allowed", req.Name)}
	}
	if !isGUID(req.Record.ID) {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: req.Record.Entity, Summary: fmt.Sprintf("record id %q is not a GUID", req.Record.ID)}
	}
	target, err := c.entity(ctx, req.Record.Entity)
	if err != nil {
		return sdk.File{}, err
	}
	obj := m.attrs["objectid"]
	if obj == nil || !slices.Contains(obj.targets, target.logical) {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeUnsupported, Entity: target.logical, Summary: "notes cannot be attached to table " + target.logical}
	}
	mime := req.MimeType
	if mime == "" {
		mime = "application/octet-stream"
	}
	note := map[string]any{
		"subject": req.Name, "filename": req.Name, "mimetype": mime, "isdocument": true,
		obj.nav(target.logical) + "@odata.bind": "/" + target.set + "(" + strings.ToLower(req.Record.ID) + ")",
	}
	// The write's key names the note (Dataverse takes a client's key on
	// create, as for records): a retried write meets "duplicate key" and
	// answers the note the first one made, instead of a second note.
	noteID := ""
	if req.Key != "" {
		noteID = noteIDOf(req.Key)
		note[m.pk] = noteID
	}
	head, err := json.Marshal(note)
	if err != nil {
		return sdk.File{}, err
	}
	prefix := append(head[:len(head)-1:len(head)-1], []byte(`,"documentbody":"`)...)
	const suffix = `"}`
	var length int64 = -1
	if req.Size >= 0 {
		length = int64(len(prefix)) + int64(base64.StdEncoding.EncodedLen(int(req.Size))) + int64(len(suffix))
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := pw.Write(prefix)
		if err == nil {
			enc := base64.NewEncoder(base64.StdEncoding, pw)
			_, err = io.Copy(enc, body)
			if cerr := enc.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			_, err = io.WriteString(pw, suffix)
		}
		pw.CloseWithError(err)
	}()
	h := odata.Headers()
	h.Set("Content-Type", "application/json")
	odata.Prefer{ReturnRepresentation: true, Annotations: lookupAnnotation}.Set(h)
	resp, err := c.http.Send(ctx, httpx.StreamRequest{Method: http.MethodPost, URL: c.api + "/" + m.set + "?$select=" + noteSelect,
		Header: h, Body: pr, ContentLength: max(length, 0)})
	pr.Close() // unblocks the encoder if the request ended early
	var se *httpx.StatusError
	if noteID != "" && errors.As(err, &se) && odata.ParseError(se.StatusCode, se.Body).Code == codeDuplicate {
		return c.writtenNote(ctx, m, target, noteID, req)
	}
	if err != nil {
		return sdk.File{}, c.callError(fmt.Sprintf("attach %s to %s %s", req.Name, target.logical, req.Record.ID), err)
	}
	defer resp.Body.Close()
	var row odata.Row
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&row); err != nil {
		// 204 without the representation: the note is named by OData-EntityId.
		id := entityID(resp.Header.Get("OData-EntityId"))
		if !isGUID(id) {
			return sdk.File{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "the answer to a new note names no note", Detail: err.Error()}
		}
		row = nil
		if err := c.http.GetJSON(ctx, c.api+"/"+m.set+"("+id+")?$select="+noteSelect, &row); err != nil {
			return sdk.File{}, c.callError("read the new note "+id, err)
		}
	}
	f, isDoc := noteFile(row)
	if !isDoc {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "the new note has no document"}
	}
	if f.Record.Entity == "" {
		f.Record.Entity = target.logical
	}
	return f, nil
}
