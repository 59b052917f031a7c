package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// defaultLimit is the page size when list_folder gets no limit.
const defaultLimit = 2000

// cursorState is what a cursor encodes: the listing's arguments and a
// position in the change log. During a full listing After is the last path
// served; afterwards the cursor is a change-log position only.
type cursorState struct {
	Epoch     int64   `json:"e"`
	Path      string  `json:"p"`
	Recursive bool    `json:"r,omitempty"`
	Deleted   bool    `json:"d,omitempty"`
	Limit     int     `json:"l"`
	Seq       int64   `json:"s"`
	After     *string `json:"a,omitempty"`
}

func encodeCursor(c cursorState) string {
	raw, _ := json.Marshal(c)
	return "AAE" + base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(s string) (cursorState, bool) {
	var c cursorState
	rest, ok := strings.CutPrefix(s, "AAE")
	if !ok {
		return c, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.Limit < 1 {
		return c, false
	}
	return c, true
}

type listFolderArg struct {
	Path                            *string         `json:"path"`
	Recursive                       bool            `json:"recursive"`
	IncludeDeleted                  bool            `json:"include_deleted"`
	IncludeMediaInfo                bool            `json:"include_media_info"`
	IncludeHasExplicitSharedMembers bool            `json:"include_has_explicit_shared_members"`
	IncludeMountedFolders           *bool           `json:"include_mounted_folders"`
	IncludeNonDownloadableFiles     *bool           `json:"include_non_downloadable_files"`
	IncludePropertyGroups           json.RawMessage `json:"include_property_groups"`
	Limit                           *int            `json:"limit"`
	SharedLink                      json.RawMessage `json:"shared_link"`
}

// listStart validates list_folder's (and get_latest_cursor's) arguments
// and resolves the folder; s.mu held.
func (s *Server) listStart(a listFolderArg) (cursorState, *apiError, error) {
	if a.Path == nil {
		return cursorState{}, nil, argErrorf("request body: missing required field 'path'")
	}
	if err := checkPath(*a.Path, true, "path"); err != nil {
		return cursorState{}, nil, err
	}
	limit := defaultLimit
	if a.Limit != nil {
		if *a.Limit < 1 || *a.Limit > 2000 {
			return cursorState{}, nil, argErrorf("request body: limit: %d is not within range [1, 2000]", *a.Limit)
		}
		limit = *a.Limit
	}
	if malformed(*a.Path) {
		return cursorState{}, lookupError("path", "malformed_path"), nil
	}
	dir := ""
	if *a.Path != "" {
		n := s.st.resolve(*a.Path)
		switch {
		case n == nil:
			return cursorState{}, lookupError("path", "not_found"), nil
		case !n.folder:
			return cursorState{}, lookupError("path", "not_folder"), nil
		}
		dir = n.lower
	}
	return cursorState{Epoch: s.st.epoch, Path: dir, Recursive: a.Recursive, Deleted: a.IncludeDeleted,
		Limit: limit, Seq: s.st.seq}, nil, nil
}

// listFolder serves files/list_folder: the first page of a full listing.
func (s *Server) listFolder(w http.ResponseWriter, r *http.Request, name string) {
	var a listFolderArg
	if err := rpcArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, apiErr, err := s.listStart(a)
	switch {
	case err != nil:
		badRequest(w, name, "%s", err)
		return
	case apiErr != nil:
		s.writeAPIError(w, apiErr)
		return
	}
	after := ""
	c.After = &after
	s.writePage(w, c)
}

// listFolderContinue serves files/list_folder/continue: the next page of a
// full listing, or the changes since the cursor's position.
func (s *Server) listFolderContinue(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Cursor *string `json:"cursor"`
	}
	if err := rpcArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if a.Cursor == nil {
		badRequest(w, name, "request body: missing required field 'cursor'")
		return
	}
	c, ok := decodeCursor(*a.Cursor)
	if !ok {
		badRequest(w, name, "request body: cursor: invalid cursor")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Epoch != s.st.epoch || c.Seq > s.st.seq {
		s.writeAPIError(w, plainTag("reset"))
		return
	}
	if c.Path != "" {
		if n := s.st.nodes[c.Path]; n == nil || !n.folder {
			s.writeAPIError(w, lookupError("path", "not_found"))
			return
		}
	}
	s.writePage(w, c)
}

// writePage answers one page from cursor c; s.mu held.
func (s *Server) writePage(w http.ResponseWriter, c cursorState) {
	var entries []entry
	if c.After != nil {
		entries = s.st.listing(c.Path, c.Recursive, c.Deleted, *c.After)
	} else {
		entries = s.st.changes(c.Path, c.Recursive, c.Seq)
	}
	more := len(entries) > c.Limit
	if more {
		entries = entries[:c.Limit]
	}
	next := c
	switch {
	case more && c.After != nil:
		last := entries[len(entries)-1].lower
		next.After = &last
	case more:
		next.Seq = entries[len(entries)-1].seq
	case c.After != nil:
		next.After = nil // the full listing is done: changes since it began
	default:
		next.Seq = s.st.seq
	}
	out := make([]any, 0, len(entries))
	for _, e := range entries {
		out = append(out, wireEntry(e))
	}
	writeJSON(w, http.StatusOK, struct {
		Entries []any  `json:"entries"`
		Cursor  string `json:"cursor"`
		HasMore bool   `json:"has_more"`
	}{out, encodeCursor(next), more})
}

// latestCursor serves files/list_folder/get_latest_cursor: a cursor for
// now, without entries.
func (s *Server) latestCursor(w http.ResponseWriter, r *http.Request, name string) {
	var a listFolderArg
	if err := rpcArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, apiErr, err := s.listStart(a)
	switch {
	case err != nil:
		badRequest(w, name, "%s", err)
	case apiErr != nil:
		s.writeAPIError(w, apiErr)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"cursor": encodeCursor(c)})
	}
}

// getMetadata serves files/get_metadata.
func (s *Server) getMetadata(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Path                            *string         `json:"path"`
		IncludeMediaInfo                bool            `json:"include_media_info"`
		IncludeDeleted                  bool            `json:"include_deleted"`
		IncludeHasExplicitSharedMembers bool            `json:"include_has_explicit_shared_members"`
		IncludePropertyGroups           json.RawMessage `json:"include_property_groups"`
	}
	if err := rpcArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if a.Path == nil {
		badRequest(w, name, "request body: missing required field 'path'")
		return
	}
	if err := checkPath(*a.Path, false, "path"); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if malformed(*a.Path) {
		s.writeAPIError(w, lookupError("path", "malformed_path"))
		return
	}
	if n := s.st.resolve(*a.Path); n != nil {
		writeJSON(w, http.StatusOK, wire(n, true))
		return
	}
	lower := strings.ToLower(*a.Path)
	if t, ok := s.st.tombs[lower]; ok && a.IncludeDeleted {
		writeJSON(w, http.StatusOK, wireEntry(entry{display: t.display, lower: lower}))
		return
	}
	s.writeAPIError(w, lookupError("path", "not_found"))
}

// createFolder serves files/create_folder_v2.
func (s *Server) createFolder(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Path       *string `json:"path"`
		Autorename bool    `json:"autorename"`
	}
	if err := rpcArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if a.Path == nil {
		badRequest(w, name, "request body: missing required field 'path'")
		return
	}
	if err := checkPath(*a.Path, false, "path"); err != nil || strings.HasPrefix(*a.Path, "id:") {
		badRequest(w, name, "request body: path: '%s' did not match pattern '(/(.|[\\r\\n])*)|(ns:[0-9]+(/.*)?)'", *a.Path)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if malformed(*a.Path) {
		s.writeAPIError(w, lookupError("path", "malformed_path"))
		return
	}
	display := *a.Path
	if existing := s.st.nodes[strings.ToLower(display)]; existing != nil {
		if !a.Autorename {
			what := "folder"
			if !existing.folder {
				what = "file"
			}
			s.writeAPIError(w, writeConflict("path", what))
			return
		}
		display = s.freeName(display, "")
	}
	if blocked := s.st.ensureFolders(display, true, s.newID); blocked != "" {
		s.writeAPIError(w, writeConflict("path", "file"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"metadata": wire(s.st.nodes[strings.ToLower(display)], false)})
}

// deleteV2 serves files/delete_v2: a file, or a folder with everything in it.
func (s *Server) deleteV2(w http.ResponseWriter, r *http.Request, name string) {
	var a struct {
		Path      *string `json:"path"`
		ParentRev *string `json:"parent_rev"`
	}
	if err := rpcArg(r, &a); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	if a.Path == nil {
		badRequest(w, name, "request body: missing required field 'path'")
		return
	}
	if err := checkPath(*a.Path, false, "path"); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if malformed(*a.Path) {
		s.writeAPIError(w, lookupError("path_lookup", "malformed_path"))
		return
	}
	n := s.st.resolve(*a.Path)
	switch {
	case n == nil:
		s.writeAPIError(w, lookupError("path_lookup", "not_found"))
		return
	case a.ParentRev != nil && (n.folder || n.rev != *a.ParentRev):
		s.writeAPIError(w, writeConflict("path_write", "file"))
		return
	}
	s.st.remove(n.lower)
	writeJSON(w, http.StatusOK, map[string]any{"metadata": wire(n, true)})
}
