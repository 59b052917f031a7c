package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
	"github.com/synchub/synchub/connectors/dropbox/headerjson"
)

// download serves files/download: the file's bytes, its metadata in the
// Dropbox-API-Result header, and Range requests answered 206.
func (s *Server) download(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Path *string `json:"path"`
		Rev  *string `json:"rev"`
	}
	if err := headerArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if a.Path == nil {
		badRequest(w, name, "HTTP header \"Dropbox-API-Arg\": missing required field 'path'")
		return
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1)); n > 0 {
		badRequest(w, name, "Unexpected request body: this route takes its arguments in the Dropbox-API-Arg header")
		return
	}
	if err := checkPath(*a.Path, false, "path"); err != nil && !strings.HasPrefix(*a.Path, "rev:") {
		badRequest(w, name, "%s", err)
		return
	}
	s.mu.Lock()
	if malformed(*a.Path) {
		s.mu.Unlock()
		s.writeAPIError(w, lookupError("path", "malformed_path"))
		return
	}
	n := s.st.resolve(*a.Path)
	if n != nil && !n.folder {
		if _, lose := s.faults.take(name, true); lose {
			s.st.remove(n.lower)
			n = nil
		}
	}
	if n != nil && a.Rev != nil && n.rev != *a.Rev {
		n = nil
	}
	s.mu.Unlock()
	switch {
	case n == nil:
		s.writeAPIError(w, lookupError("path", "not_found"))
		return
	case n.folder:
		s.writeAPIError(w, lookupError("path", "not_file"))
		return
	}
	result, err := headerjson.Marshal(wire(n, false))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Dropbox-API-Result", result)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `W/"`+n.rev+`"`)
	// ServeContent answers Range (206, or 416 past the end) and
	// If-None-Match from a seeker, streaming: generated content is
	// computed as it is read.
	http.ServeContent(w, r, "", time.Time{}, n.content())
}

// writeMode is a WriteMode: "add", "overwrite" or {".tag":"update","update":rev}.
type writeMode struct {
	tag string
	rev string
}

func (m *writeMode) UnmarshalJSON(b []byte) error {
	var short string
	if json.Unmarshal(b, &short) == nil {
		if short != "add" && short != "overwrite" {
			return fmt.Errorf("mode: unknown tag '%s'", short)
		}
		m.tag = short
		return nil
	}
	var long struct {
		Tag    string  `json:".tag"`
		Update *string `json:"update"`
	}
	if err := json.Unmarshal(b, &long); err != nil {
		return fmt.Errorf("mode: expected a union")
	}
	switch {
	case long.Tag == "update" && long.Update != nil:
		m.tag, m.rev = "update", *long.Update
	case long.Tag == "update":
		return errors.New("mode: missing required field 'update'")
	case long.Tag == "add" || long.Tag == "overwrite":
		m.tag = long.Tag
	default:
		return fmt.Errorf("mode: unknown tag '%s'", long.Tag)
	}
	return nil
}

// commitInfo is upload's argument and upload_session/finish's commit.
type commitInfo struct {
	Path           *string         `json:"path"`
	Mode           *writeMode      `json:"mode"`
	Autorename     bool            `json:"autorename"`
	ClientModified *string         `json:"client_modified"`
	Mute           bool            `json:"mute"`
	PropertyGroups json.RawMessage `json:"property_groups"`
	StrictConflict bool            `json:"strict_conflict"`
}

// check validates a commit's fields; where names the argument.
func (c commitInfo) check(where string) (writeMode, time.Time, error) {
	if c.Path == nil {
		return writeMode{}, time.Time{}, argErrorf("%s: missing required field 'path'", where)
	}
	if err := checkPath(*c.Path, false, "path"); err != nil {
		return writeMode{}, time.Time{}, err
	}
	mode := writeMode{tag: "add"}
	if c.Mode != nil {
		mode = *c.Mode
	}
	var cm time.Time
	if c.ClientModified != nil {
		t, err := time.Parse("2006-01-02T15:04:05Z", *c.ClientModified)
		if err != nil {
			return mode, cm, argErrorf("%s: client_modified: time data '%s' does not match format '%%Y-%%m-%%dT%%H:%%M:%%SZ'", where, *c.ClientModified)
		}
		cm = t
	}
	return mode, cm, nil
}

// readBody reads an upload body, at most limit bytes, hashing it. tooBig
// reports a body over the limit (not read to its end).
func readBody(r io.Reader, limit int64) (data []byte, hash string, tooBig bool, err error) {
	var buf bytes.Buffer
	h := contenthash.New()
	n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(r, limit+1))
	if err != nil {
		return nil, "", false, err
	}
	if n > limit {
		return nil, "", true, nil
	}
	return buf.Bytes(), h.Hex(), false, nil
}

func payloadTooLarge(w http.ResponseWriter, s *Server) {
	w.Header().Set("Connection", "close")
	s.writeAPIError(w, plainTag("payload_too_large"))
}

// upload serves files/upload: at most MaxUploadBytes in one call.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		commitInfo
		ContentHash *string `json:"content_hash"`
	}
	if err := checkUploadType(r.Header.Get("Content-Type")); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if err := headerArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	mode, cm, err := a.check(`HTTP header "Dropbox-API-Arg"`)
	if err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	data, hash, tooBig, err := readBody(r.Body, s.opts.MaxUploadBytes)
	switch {
	case err != nil:
		s.log.Debug("upload body cut short; nothing stored", "path", *a.Path, "error", err)
		badRequest(w, name, "could not read the request body: %v", err)
		return
	case tooBig:
		payloadTooLarge(w, s)
		return
	case a.ContentHash != nil && *a.ContentHash != hash:
		s.writeAPIError(w, plainTag("content_hash_mismatch"))
		return
	}
	s.mu.Lock()
	n, failure := s.commit(*a.Path, mode, a.Autorename, a.StrictConflict, cm, data, hash)
	s.mu.Unlock()
	if failure != "" {
		// UploadError nests the write failure under "reason".
		s.writeAPIError(w, &apiError{status: http.StatusConflict, summary: "path/" + failure,
			body: map[string]any{".tag": "path", "reason": writeFailure(failure),
				"upload_session_id": "pid_upload_session:" + s.sessionID()}})
		return
	}
	writeJSON(w, http.StatusOK, wire(n, false))
}

// writeFailure renders a WriteError such as "conflict/file" or
// "malformed_path".
func writeFailure(f string) any {
	if what, ok := strings.CutPrefix(f, "conflict/"); ok {
		return map[string]any{".tag": "conflict", "conflict": tag{what}}
	}
	return tag{f}
}

// commit stores content at p under mode, as Dropbox's WriteMode says:
// add never overwrites (identical content is no change), overwrite always
// does, update only over the given rev. It returns the stored file, or a
// WriteError tag path on failure; s.mu held.
func (s *Server) commit(p string, mode writeMode, autorename, strict bool, clientModified time.Time, data []byte, hash string) (*node, string) {
	if malformed(p) {
		return nil, "malformed_path"
	}
	if strings.HasPrefix(p, "id:") {
		n := s.st.byID[p]
		if n == nil {
			return nil, "malformed_path"
		}
		p = n.display
	}
	now := s.now().UTC().Truncate(time.Second)
	if clientModified.IsZero() {
		clientModified = now
	}
	existing := s.st.nodes[strings.ToLower(p)]
	suffix := ""
	switch {
	case existing != nil && existing.folder:
		if !autorename {
			return nil, "conflict/folder"
		}
		p = s.freeName(p, "")
		existing = nil
	case mode.tag == "add" && existing != nil:
		if existing.hash == hash {
			return existing, ""
		}
		if !autorename {
			return nil, "conflict/file"
		}
		p = s.freeName(p, "")
		existing = nil
	case mode.tag == "update" && (existing != nil && existing.rev != mode.rev || existing == nil && strict):
		if !autorename {
			return nil, "conflict/file"
		}
		suffix = "conflicted copy"
		p = s.freeName(p, suffix)
		existing = nil
	}
	if blocked := s.st.ensureFolders(p, false, s.newID); blocked != "" {
		return nil, "conflict/file"
	}
	n := &node{display: s.st.displayFor(p), rev: s.newRev(), size: int64(len(data)), data: data, hash: hash,
		clientModified: clientModified.UTC().Truncate(time.Second), serverModified: now}
	n.lower = strings.ToLower(n.display)
	if existing != nil {
		n.id = existing.id
	} else {
		n.id = s.newID()
	}
	s.st.put(n)
	return n, ""
}

// freeName returns the first free "name (k).ext" (or "name (suffix).ext",
// then "name (suffix k).ext") next to p; s.mu held.
func (s *Server) freeName(p, suffix string) string {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for k := 1; ; k++ {
		label := fmt.Sprint(k)
		if suffix != "" {
			label = suffix
			if k > 1 {
				label = fmt.Sprintf("%s %d", suffix, k)
			}
		}
		cand := fmt.Sprintf("%s%s (%s)%s", dir, stem, label, ext)
		if s.st.nodes[strings.ToLower(cand)] == nil {
			return cand
		}
	}
}

// sessionID returns a fresh upload session id; takes s.mu.
func (s *Server) sessionID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.randomString(24)
}

type sessionCursor struct {
	SessionID *string `json:"session_id"`
	Offset    *int64  `json:"offset"`
}

// sessionStart serves files/upload_session/start.
func (s *Server) sessionStart(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Close       bool            `json:"close"`
		SessionType json.RawMessage `json:"session_type"`
		ContentHash *string         `json:"content_hash"`
	}
	if err := checkUploadType(r.Header.Get("Content-Type")); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if err := headerArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	data, hash, tooBig, err := readBody(r.Body, s.opts.MaxUploadBytes)
	switch {
	case err != nil:
		badRequest(w, name, "could not read the request body: %v", err)
		return
	case tooBig:
		payloadTooLarge(w, s)
		return
	case a.ContentHash != nil && *a.ContentHash != hash:
		s.writeAPIError(w, plainTag("content_hash_mismatch"))
		return
	}
	sess := &session{closed: a.Close}
	sess.data.Write(data)
	s.mu.Lock()
	id := "pid_upload_session:" + s.randomString(24)
	s.st.sessions[id] = sess
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"session_id": id})
}

// sessionLookup finds the session a cursor names and checks its offset;
// s.mu held. The error is an UploadSessionLookupError.
func (s *Server) sessionLookup(c sessionCursor) (*session, *apiError) {
	sess := s.st.sessions[*c.SessionID]
	switch {
	case sess == nil:
		return nil, plainTag("not_found")
	case int64(sess.data.Len()) != *c.Offset:
		return nil, &apiError{status: http.StatusConflict, summary: "incorrect_offset",
			body: map[string]any{".tag": "incorrect_offset", "correct_offset": sess.data.Len()}}
	case sess.closed:
		return nil, plainTag("closed")
	}
	return sess, nil
}

func checkCursor(c *sessionCursor, where string) error {
	if c == nil || c.SessionID == nil || c.Offset == nil {
		return argErrorf("%s: cursor: missing required field 'session_id' or 'offset'", where)
	}
	return nil
}

// sessionAppend serves files/upload_session/append_v2.
func (s *Server) sessionAppend(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Cursor      *sessionCursor `json:"cursor"`
		Close       bool           `json:"close"`
		ContentHash *string        `json:"content_hash"`
	}
	if err := checkUploadType(r.Header.Get("Content-Type")); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if err := headerArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if err := checkCursor(a.Cursor, `HTTP header "Dropbox-API-Arg"`); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	s.mu.Lock()
	_, lookupErr := s.sessionLookup(*a.Cursor)
	s.mu.Unlock()
	if lookupErr != nil {
		s.writeAPIError(w, lookupErr)
		return
	}
	data, hash, tooBig, err := readBody(r.Body, s.opts.MaxUploadBytes)
	switch {
	case err != nil:
		badRequest(w, name, "could not read the request body: %v", err)
		return
	case tooBig:
		payloadTooLarge(w, s)
		return
	case a.ContentHash != nil && *a.ContentHash != hash:
		s.writeAPIError(w, plainTag("content_hash_mismatch"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, lookupErr := s.sessionLookup(*a.Cursor) // again: another append may have come first
	if lookupErr != nil {
		s.writeAPIError(w, lookupErr)
		return
	}
	sess.data.Write(data)
	sess.closed = a.Close
	writeJSON(w, http.StatusOK, nil)
}

// sessionFinish serves files/upload_session/finish: the last bytes, then
// the commit.
func (s *Server) sessionFinish(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Cursor      *sessionCursor `json:"cursor"`
		Commit      *commitInfo    `json:"commit"`
		ContentHash *string        `json:"content_hash"`
	}
	if err := checkUploadType(r.Header.Get("Content-Type")); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if err := headerArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	where := `HTTP header "Dropbox-API-Arg"`
	if err := checkCursor(a.Cursor, where); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if a.Commit == nil {
		badRequest(w, name, "%s: missing required field 'commit'", where)
		return
	}
	mode, cm, err := a.Commit.check(where + ": commit")
	if err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	data, _, tooBig, err := readBody(r.Body, s.opts.MaxUploadBytes)
	switch {
	case err != nil:
		badRequest(w, name, "could not read the request body: %v", err)
		return
	case tooBig:
		payloadTooLarge(w, s)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *a.Cursor
	sess := s.st.sessions[*c.SessionID]
	if sess != nil && int64(sess.data.Len()) == *c.Offset {
		sess.closed = false // finish may carry the last bytes of a closed session
	}
	sess, lookupErr := s.sessionLookup(c)
	if lookupErr != nil {
		s.writeAPIError(w, nest("lookup_failed", lookupErr))
		return
	}
	sess.data.Write(data)
	all := sess.data.Bytes()
	hash := contenthash.Of(all)
	if a.ContentHash != nil && *a.ContentHash != hash {
		s.writeAPIError(w, plainTag("content_hash_mismatch"))
		return
	}
	n, failure := s.commit(*a.Commit.Path, mode, a.Commit.Autorename, a.Commit.StrictConflict, cm, all, hash)
	if failure != "" {
		// UploadSessionFinishError nests the WriteError under "path".
		s.writeAPIError(w, &apiError{status: http.StatusConflict, summary: "path/" + failure,
			body: map[string]any{".tag": "path", "path": writeFailure(failure)}})
		return
	}
	delete(s.st.sessions, *c.SessionID)
	writeJSON(w, http.StatusOK, wire(n, false))
}

// nest puts a lookup error under a union tag: lookup_failed/not_found.
func nest(union string, e *apiError) *apiError {
	return &apiError{status: e.status, summary: union + "/" + e.summary,
		body: map[string]any{".tag": union, union: e.body}}
}
