package dropbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// commitArg is files/upload's argument and upload_session/finish's commit:
// add, never overwrite, never rename. A retried upload of the same bytes is
// then a no-op and a different file of that name a conflict.
type commitArg struct {
	Path           string `json:"path"`
	Mode           string `json:"mode"`
	Autorename     bool   `json:"autorename"`
	Mute           bool   `json:"mute"`
	StrictConflict bool   `json:"strict_conflict"`
	ContentHash    string `json:"content_hash,omitempty"`
}

// WriteFile uploads a file into its record's folder,
// <root>/<entity>/<record name>_<record id>/<name>; the upload creates the
// folders. See the package comment for the size split and conflicts.
func (c *Connector) WriteFile(ctx context.Context, req sdk.WriteFileRequest, body io.Reader) (sdk.File, error) {
	st, err := c.current()
	if err != nil {
		return sdk.File{}, err
	}
	if err := checkSegment(req.Name, "file name"); err != nil {
		return sdk.File{}, err
	}
	folder, err := st.recordFolder(req.Record)
	if err != nil {
		return sdk.File{}, err
	}
	w := &upload{c: c, st: st, req: req, path: folder + "/" + req.Name}
	var meta metadata
	if req.Size >= 0 && req.Size <= c.singleMax {
		meta, err = w.single(ctx, body)
	} else {
		meta, err = w.chunked(ctx, body)
	}
	if err != nil {
		return sdk.File{}, withContext(err, fmt.Sprintf("write file %q on %s %s", req.Name, req.Record.Entity, req.Record.ID))
	}
	p, _ := st.place(meta.PathDisplay, meta.PathLower)
	return st.toFile(meta, p, c), nil
}

// upload is one WriteFile in progress.
type upload struct {
	c    *Connector
	st   *configured
	req  sdk.WriteFileRequest
	path string
}

// single streams body in one files/upload call, verifying its length
// against req.Size and Dropbox's content_hash against the bytes sent.
func (u *upload) single(ctx context.Context, body io.Reader) (metadata, error) {
	const route = "files/upload"
	hdr, err := contentHeader(route, commitArg{Path: u.path, Mode: "add"})
	if err != nil {
		return metadata{}, err
	}
	hdr.Set("Content-Type", "application/octet-stream")
	r := &exactReader{r: body, left: u.req.Size, hash: contenthash.New()}
	resp, err := u.st.http.Send(ctx, httpx.StreamRequest{Method: http.MethodPost, URL: u.st.contentURL + "/2/" + route,
		Header: hdr, Body: r, ContentLength: u.req.Size})
	hash, sizeErr := r.detach()
	if sizeErr != nil {
		if err == nil {
			resp.Body.Close()
		}
		return metadata{}, sizeErr
	}
	if err != nil {
		return metadata{}, writeError(route, u.path, err)
	}
	meta, err := decodeMetadata(route, resp)
	if err != nil {
		return metadata{}, err
	}
	return meta, verify(meta, u.req.Size, hash)
}

// chunked sends a file of unknown or large size: the first chunk decides
// (all of it fits: one files/upload of it), else an upload session whose
// every chunk is held once in memory, so each call can be retried.
func (u *upload) chunked(ctx context.Context, body io.Reader) (metadata, error) {
	buf := make([]byte, u.c.chunk)
	hash := contenthash.New()
	n, err := io.ReadFull(body, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return metadata{}, fmt.Errorf("read the body: %w", err)
	}
	hash.Write(buf[:n])
	total := int64(n)
	if err := u.checkSize(total, err == nil); err != nil {
		return metadata{}, err
	}
	if err != nil { // it all fits in one chunk
		return u.oneChunk(ctx, buf[:n], hash.Hex())
	}
	var session struct {
		SessionID string `json:"session_id"`
	}
	if err := u.content(ctx, "files/upload_session/start", map[string]bool{"close": false}, buf[:n], true, &session); err != nil {
		return metadata{}, err
	}
	if session.SessionID == "" {
		return metadata{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "dropbox upload_session/start answered no session_id"}
	}
	for {
		offset := total
		// A fresh buffer per chunk: net/http may still be reading the
		// previous one after its call returned (an early answer such as a
		// 429 leaves the body write running).
		buf = make([]byte, u.c.chunk)
		n, err = io.ReadFull(body, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return metadata{}, fmt.Errorf("read the body at byte %d: %w", offset, err)
		}
		hash.Write(buf[:n])
		total += int64(n)
		if err := u.checkSize(total, err == nil); err != nil {
			return metadata{}, err
		}
		cursor := map[string]any{"session_id": session.SessionID, "offset": offset}
		if err != nil { // the last bytes: finish
			arg := map[string]any{"cursor": cursor, "commit": commitArg{Path: u.path, Mode: "add"}, "content_hash": hash.Hex()}
			var meta metadata
			if err := u.content(ctx, "files/upload_session/finish", arg, buf[:n], false, &meta); err != nil {
				return metadata{}, err
			}
			return meta, verify(meta, total, hash.Hex())
		}
		err = u.content(ctx, "files/upload_session/append_v2", map[string]any{"cursor": cursor, "close": false}, buf[:n], true, nil)
		if err != nil && !landed(err, offset+int64(n)) {
			return metadata{}, err
		}
	}
}

// oneChunk uploads content that is wholly in memory, with its content
// hash for Dropbox to check; it can be retried.
func (u *upload) oneChunk(ctx context.Context, data []byte, hash string) (metadata, error) {
	var meta metadata
	if err := u.content(ctx, "files/upload", commitArg{Path: u.path, Mode: "add", ContentHash: hash}, data, false, &meta); err != nil {
		return metadata{}, err
	}
	return meta, verify(meta, int64(len(data)), hash)
}

// content calls a content-upload route with args and a body held in
// memory, decoding the JSON answer into out (nil: ignore it).
func (u *upload) content(ctx context.Context, route string, args any, data []byte, idempotent bool, out any) error {
	hdr, err := contentHeader(route, args)
	if err != nil {
		return err
	}
	hdr.Set("Content-Type", "application/octet-stream")
	resp, err := u.st.http.Send(ctx, httpx.StreamRequest{Method: http.MethodPost, URL: u.st.contentURL + "/2/" + route,
		Header: hdr, Body: bytes.NewReader(data), ContentLength: int64(len(data)), Idempotent: idempotent})
	if err != nil {
		return writeError(route, u.path, err)
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil
	}
	if m, ok := out.(*metadata); ok {
		*m, err = decodeMetadata(route, resp)
		return err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return &sdk.Error{Code: sdk.CodeBadResponse, Summary: fmt.Sprintf("dropbox %s answered malformed JSON", route), Err: err, Detail: err.Error()}
	}
	return nil
}

// checkSize refuses a body longer than announced, or (at its end) shorter.
func (u *upload) checkSize(total int64, more bool) error {
	switch size := u.req.Size; {
	case size < 0:
		return nil
	case total > size || !more && total != size:
		return &sdk.Error{Code: sdk.CodeInvalidRequest,
			Summary: fmt.Sprintf("file %s announced %d bytes but its body has %s", u.req.Name, size, describeCount(total, more))}
	}
	return nil
}

func describeCount(total int64, more bool) string {
	if more {
		return fmt.Sprintf("more than %d", total)
	}
	return fmt.Sprint(total)
}

// landed reports whether a failed append actually arrived: a retry of an
// append that Dropbox had applied answers incorrect_offset with the offset
// after it.
func landed(err error, end int64) bool {
	var se *httpx.StatusError
	if summary, ok := endpointError(err); !ok || !hasTag(summary, "incorrect_offset") || !errors.As(err, &se) {
		return false
	}
	var body struct {
		Error struct {
			CorrectOffset int64 `json:"correct_offset"`
		} `json:"error"`
	}
	return json.Unmarshal(se.Body, &body) == nil && body.Error.CorrectOffset == end
}

// writeError explains a failed upload call.
func writeError(route, path string, err error) error {
	summary, ok := endpointError(err)
	switch {
	case ok && strings.Contains(summary, "conflict/file"):
		return &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: "a different file of that name is already on the record",
			Detail: fmt.Sprintf("dropbox %s: %s (%s); rename the file", route, trimSummary(summary), path), Err: err}
	case ok && strings.Contains(summary, "conflict/folder"):
		return &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: "a folder of that name is already on the record",
			Detail: fmt.Sprintf("dropbox %s: %s (%s)", route, trimSummary(summary), path), Err: err}
	case ok && (hasTag(summary, "content_hash_mismatch") || hasTag(summary, "lookup_failed")):
		// The bytes were damaged in transit or the session was lost:
		// sending the file again can work.
		return &sdk.Error{Code: sdk.CodeUnavailable, Summary: fmt.Sprintf("dropbox %s: %s", route, trimSummary(summary)),
			Detail: path, Err: err}
	case ok && strings.Contains(summary, "insufficient_space"):
		return &sdk.Error{Code: sdk.CodeUnavailable, Summary: "the Dropbox account is full", Detail: path, Err: err}
	}
	return callError(route, err)
}

// decodeMetadata reads a FileMetadata answer.
func decodeMetadata(route string, resp *http.Response) (metadata, error) {
	defer resp.Body.Close()
	var m metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil || m.PathLower == "" {
		if err == nil {
			err = errors.New("no path_lower")
		}
		return metadata{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: fmt.Sprintf("dropbox %s answered no file metadata", route), Detail: err.Error(), Err: err}
	}
	return m, nil
}

// verify compares what Dropbox stored with what was sent.
func verify(m metadata, size int64, hash string) error {
	if m.Size != size || (m.ContentHash != "" && m.ContentHash != hash) {
		return &sdk.Error{Code: sdk.CodeBadResponse, Summary: "dropbox stored different content than was sent",
			Detail: fmt.Sprintf("%s: sent %d bytes with content hash %s, dropbox has %d bytes with %s", m.PathDisplay, size, hash, m.Size, m.ContentHash)}
	}
	return nil
}

// exactReader passes exactly left bytes of r through, hashing them, and
// fails the request when r has more or fewer, so a body that does not match
// its announced size is never stored. net/http may go on reading a request
// body after the call returned (when the server answered early); detach
// ends that, so the caller's reader is never touched after WriteFile.
type exactReader struct {
	mu       sync.Mutex // held during every read of r
	r        io.Reader
	left     int64
	hash     *contenthash.Hash
	err      error // the size mismatch, once seen
	detached bool
}

// detach stops all further reads and returns the hash of what was read and
// the size mismatch, if any.
func (e *exactReader) detach() (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detached = true
	return e.hash.Hex(), e.err
}

var errDetached = errors.New("upload body read after the call ended")

func (e *exactReader) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.detached:
		return 0, errDetached
	case e.err != nil:
		return 0, e.err
	case e.left == 0:
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: fmt.Sprintf("the file's body ends %d bytes short of its announced size", e.left)}
		return 0, e.err
	case err == nil && e.left == 0:
		// Make sure nothing follows before the last bytes go out: once
		// the announced length is sent, the server stores the file.
		if err = e.checkEnd(); err != io.EOF {
			return 0, err
		}
	case err != nil && err != io.EOF:
		return 0, err
	}
	e.hash.Write(p[:n])
	if e.left == 0 {
		return n, io.EOF
	}
	return n, nil
}

// checkEnd reads one byte past the announced size: io.EOF when there is
// none, the size error when there is.
func (e *exactReader) checkEnd() error {
	var one [1]byte
	for {
		n, err := e.r.Read(one[:])
		switch {
		case n > 0:
			e.err = &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: "the file's body is longer than its announced size"}
			return e.err
		case err != nil:
			return err
		}
	}
}
