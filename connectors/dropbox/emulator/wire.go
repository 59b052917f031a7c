package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/headerjson"
)

// maxArgBytes caps an RPC request body.
const maxArgBytes = 1 << 20

// tag is a union member without a value: {".tag": "not_found"}.
type tag struct {
	Tag string `json:".tag"`
}

// apiError is an endpoint-specific error: 409 (or 401, 429) with
// {"error_summary": ..., "error": ...}.
type apiError struct {
	status  int
	summary string // tag path, e.g. "path/not_found"
	body    any    // the "error" object
	header  http.Header
}

// lookupError is a LookupError member (not_found, not_file, ...) under the
// given union tag, e.g.
// {".tag":"path","path":{".tag":"not_found"}}.
func lookupError(union, reason string) *apiError {
	return &apiError{status: http.StatusConflict, summary: union + "/" + reason,
		body: map[string]any{".tag": union, union: tag{reason}}}
}

// writeConflict is WriteError.conflict under union: the shape of upload
// session finish, create_folder and delete errors.
func writeConflict(union, what string) *apiError {
	return &apiError{status: http.StatusConflict, summary: union + "/conflict/" + what,
		body: map[string]any{".tag": union, union: map[string]any{".tag": "conflict", "conflict": tag{what}}}}
}

// plainTag is a top-level void member, e.g. {".tag":"reset"}.
func plainTag(t string) *apiError {
	return &apiError{status: http.StatusConflict, summary: t, body: tag{t}}
}

func (s *Server) writeAPIError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	// Dropbox appends dots so that summaries stay unique in logs; clients
	// match by prefix.
	writeJSON(w, e.status, struct {
		Summary string `json:"error_summary"`
		Error   any    `json:"error"`
	}{e.summary + "/..", e.body})
}

// badRequest answers 400 in plain text, as Dropbox does for calls it cannot
// parse.
func badRequest(w http.ResponseWriter, route, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "Error in call to API function %q: %s", route, fmt.Sprintf(format, args...))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "emulator: encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// argError is a malformed argument: answered 400 in plain text.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func argErrorf(format string, args ...any) *argError {
	return &argError{fmt.Sprintf(format, args...)}
}

// decodeStrict decodes JSON into v refusing unknown fields and trailing
// data, with messages in Dropbox's style.
func decodeStrict(raw []byte, v any, where string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return argErrorf("%s: could not decode input as JSON", where)
		}
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return argErrorf("%s: unknown field %s", where, strings.ReplaceAll(f, `"`, "'"))
		}
		return argErrorf("%s: %s", where, strings.TrimPrefix(msg, "json: "))
	}
	if dec.More() {
		return argErrorf("%s: could not decode input as JSON", where)
	}
	return nil
}

// rpcArg reads an RPC route's JSON body into v (nil: a route without
// arguments, which takes no body).
func rpcArg(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxArgBytes+1))
	if err != nil {
		return argErrorf("could not read request body: %v", err)
	}
	if len(body) > maxArgBytes {
		return argErrorf("request body too large")
	}
	ct := r.Header.Get("Content-Type")
	if v == nil {
		// No arguments: no body and no Content-Type, or the JSON null.
		if len(bytes.TrimSpace(body)) == 0 && ct == "" {
			return nil
		}
		if err := checkJSONType(ct); err != nil {
			return err
		}
		if string(bytes.TrimSpace(body)) != "null" {
			return argErrorf("request body: could not decode input as JSON")
		}
		return nil
	}
	if err := checkJSONType(ct); err != nil {
		return err
	}
	return decodeStrict(body, v, "request body")
}

func checkJSONType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || mt == "text/plain" && params["charset"] == "dropbox-cors-hack") {
		return nil
	}
	return argErrorf(`Bad HTTP "Content-Type" header: %q.  Expecting one of "application/json", "application/json; charset=utf-8", "text/plain; charset=dropbox-cors-hack".`, ct)
}

// headerArg reads a content route's arguments from the Dropbox-API-Arg
// header (or the arg URL parameter) into v. The header must be printable
// ASCII: non-ASCII must come escaped as \uXXXX.
func headerArg(r *http.Request, v any) error {
	raw := r.Header.Get("Dropbox-API-Arg")
	where := `HTTP header "Dropbox-API-Arg"`
	if raw == "" {
		raw = r.URL.Query().Get("arg")
		where = `URL parameter "arg"`
	}
	if raw == "" {
		return argErrorf(`Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".`)
	}
	if where[0] == 'H' && !headerjson.Safe(raw) {
		return argErrorf("%s: could not decode input as JSON", where)
	}
	return decodeStrict([]byte(raw), v, where)
}

// checkUploadType refuses an upload body that is not declared as bytes.
func checkUploadType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/octet-stream" || mt == "text/plain" && params["charset"] == "dropbox-cors-hack") {
		return nil
	}
	return argErrorf(`Bad HTTP "Content-Type" header: %q.  Expecting one of "application/octet-stream", "text/plain; charset=dropbox-cors-hack".`, ct)
}

// checkPath validates a path argument: "" (the root, where allowed),
// "/..." or "id:...".
func checkPath(p string, rootOK bool, field string) error {
	switch {
	case p == "" && rootOK, strings.HasPrefix(p, "id:") && len(p) > 3:
		return nil
	case strings.HasPrefix(p, "/"):
		return nil
	}
	pattern := `(/(.|[\r\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)`
	if rootOK {
		pattern = `(/(.|[\r\n])*)?|id:.*|(ns:[0-9]+(/.*)?)`
	}
	return argErrorf("request body: %s: '%s' did not match pattern '%s'", field, p, pattern)
}

// malformed reports a path Dropbox refuses as malformed_path: a trailing
// slash, an empty component, or "." and "..".
func malformed(p string) bool {
	if strings.HasPrefix(p, "id:") || p == "" {
		return false
	}
	if strings.HasSuffix(p, "/") {
		return true
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return true
		}
	}
	return false
}

// Metadata is a file or folder entry as the API shows it.
type Metadata struct {
	Tag            string // "file", "folder" or "deleted"
	Name           string
	ID             string // "" for deleted entries
	PathLower      string
	PathDisplay    string
	Rev            string
	Size           int64
	ContentHash    string
	ClientModified time.Time
	ServerModified time.Time
}

func metadataOf(n *node) Metadata {
	m := Metadata{Tag: "folder", Name: n.name(), ID: n.id, PathLower: n.lower, PathDisplay: n.display}
	if !n.folder {
		m.Tag, m.Rev, m.Size, m.ContentHash = "file", n.rev, n.size, n.hash
		m.ClientModified, m.ServerModified = n.clientModified, n.serverModified
	}
	return m
}

// The wire shapes, fields in the order the API sends them.
type (
	fileJSON struct {
		Tag            string `json:".tag,omitempty"`
		Name           string `json:"name"`
		ID             string `json:"id"`
		ClientModified string `json:"client_modified"`
		ServerModified string `json:"server_modified"`
		Rev            string `json:"rev"`
		Size           int64  `json:"size"`
		PathLower      string `json:"path_lower"`
		PathDisplay    string `json:"path_display"`
		IsDownloadable bool   `json:"is_downloadable"`
		ContentHash    string `json:"content_hash"`
	}
	folderJSON struct {
		Tag         string `json:".tag"`
		Name        string `json:"name"`
		ID          string `json:"id"`
		PathLower   string `json:"path_lower"`
		PathDisplay string `json:"path_display"`
	}
	deletedJSON struct {
		Tag         string `json:".tag"`
		Name        string `json:"name"`
		PathLower   string `json:"path_lower"`
		PathDisplay string `json:"path_display"`
	}
)

// wireTime formats a time as Dropbox does: UTC, seconds, "Z".
func wireTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// wire renders n; tagged false leaves out ".tag", as upload results do.
func wire(n *node, tagged bool) any {
	if n.folder {
		return folderJSON{Tag: "folder", Name: n.name(), ID: n.id, PathLower: n.lower, PathDisplay: n.display}
	}
	f := fileJSON{Name: n.name(), ID: n.id, ClientModified: wireTime(n.clientModified),
		ServerModified: wireTime(n.serverModified), Rev: n.rev, Size: n.size, PathLower: n.lower,
		PathDisplay: n.display, IsDownloadable: true, ContentHash: n.hash}
	if tagged {
		f.Tag = "file"
	}
	return f
}

func wireEntry(e entry) any {
	if e.n != nil {
		return wire(e.n, true)
	}
	name := e.display[strings.LastIndexByte(e.display, '/')+1:]
	return deletedJSON{Tag: "deleted", Name: name, PathLower: e.lower, PathDisplay: e.display}
}
