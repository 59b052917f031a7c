package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/files"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Files is what the API needs of the file stage (host/files): content
// through the connectors, uploads and listings. The API checks visibility
// and speaks HTTP; files does the rest.
type Files interface {
	// Open streams a file's content from offset, length bytes (0: to the
	// end); the sdk.File is the back end's current metadata (zero when
	// unknown).
	Open(ctx context.Context, f store.File, offset, length int64) (io.ReadCloser, sdk.File, error)
	// Lost removes a file the back end no longer has from the mirror.
	Lost(ctx context.Context, f store.File) error
	// Changed asks for a listing of a file whose content changed since it
	// was listed.
	Changed(ctx context.Context, f store.File)
	// Upload stores an upload durably and queues it for the back end.
	Upload(ctx context.Context, req files.UploadRequest, body io.Reader) (store.FileUpload, bool, error)
	// MaxUploadBytes is the largest upload Upload takes.
	MaxUploadBytes() int64
	// Trigger queues a listing of a source's files.
	Trigger(ctx context.Context, source string, full bool) error
}

// uploadRoute is the upload's route, whose body is capped by the upload
// limit instead of max_body_bytes (see limitBody).
const uploadRoute = "/v1/sources/:source/files"

// Error codes of the file routes.
const (
	codeRangeNotSatisfiable = "range_not_satisfiable"
	codeBackendError        = "backend_error"
	codeNoFileStore         = "no_file_store"
)

// copyBuffer is the buffer a download streams through: the most of a file
// the hub holds at once per request.
const copyBuffer = 64 << 10

// fileContent is GET /v1/files/{id}/content.
func (s *Server) fileContent(c *gin.Context) {
	f, ok := s.visibleFile(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	h := c.Writer.Header()
	etag := fileETag(f.Hash, f.Version)
	if etag != "" {
		h.Set("ETag", etag)
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "private, no-cache")
	if etag != "" && etagListMatches(c.GetHeader("If-None-Match"), etag) {
		c.AbortWithStatus(http.StatusNotModified)
		return
	}
	if s.files == nil {
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "this hub does not serve files")
		return
	}
	rng, err := parseRange(c.GetHeader("Range"), f.Size)
	if ir := c.GetHeader("If-Range"); ir != "" && (etag == "" || ir != etag) {
		rng, err = byteRange{}, nil // the device holds another version: send it whole
	}
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", f.Size))
		abortError(c, http.StatusRequestedRangeNotSatisfiable, codeRangeNotSatisfiable,
			fmt.Sprintf("%s; the file has %d bytes", err, f.Size))
		return
	}
	off, n := int64(0), f.Size
	if rng.ok {
		off, n = rng.off, rng.n
	}
	length := n
	if !rng.ok {
		length = 0
	}
	rc, meta, err := s.files.Open(ctx, f, off, length)
	if err != nil {
		s.fileError(c, f, err)
		return
	}
	if files.ContentChanged(f, meta) {
		// Changed since it was listed: send the back end's version whole
		// (a 200 tells a resuming device to start over), and list again.
		rc.Close()
		s.files.Changed(ctx, f)
		f.Version, f.Hash, f.Size = meta.Version, meta.Hash, meta.Size
		if rc, _, err = s.files.Open(ctx, f, 0, 0); err != nil {
			s.fileError(c, f, err)
			return
		}
		rng, off, n = byteRange{}, 0, f.Size
		if etag = fileETag(f.Hash, f.Version); etag != "" {
			h.Set("ETag", etag)
		} else {
			h.Del("ETag")
		}
	}
	defer rc.Close()
	ctype := f.MimeType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if rng.ok {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, f.Size))
	}
	c.Status(status)
	c.Writer.WriteHeaderNow()
	written, err := io.CopyBuffer(c.Writer, io.LimitReader(rc, n), make([]byte, copyBuffer))
	if err == nil && written < n {
		err = fmt.Errorf("the back end sent %d of %d bytes: %w", written, n, io.ErrUnexpectedEOF)
	}
	if err != nil {
		// Headers are out: cut the connection so a short body is never
		// taken for the file.
		if !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			s.log.Warn("file download failed mid-stream", "file", f.MirrorID, "source", f.Source, "error", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// visibleFile resolves {id} to a file the caller sees: its record is in
// one of the caller's partitions. Anything else is 404, as for a file that
// does not exist.
func (s *Server) visibleFile(c *gin.Context) (store.File, bool) {
	id := c.Param("id")
	notFound := func() (store.File, bool) {
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("file %q not found", id))
		return store.File{}, false
	}
	f, err := s.st.FileByMirrorID(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		s.abortInternal(c, err)
		return store.File{}, false
	}
	v, ok, err := s.viewOf(c, f.Target)
	if err != nil {
		s.abortInternal(c, err)
		return store.File{}, false
	}
	if !ok || f.Partition == "" || !slices.Contains(v.partitions, f.Partition) {
		return notFound()
	}
	return f, true
}

// fileError answers a failed read: a file the back end lost is 404 and
// leaves the mirror; a busy or unreachable back end 503; anything else
// 502.
func (s *Server) fileError(c *gin.Context, f store.File, err error) {
	var se *sdk.Error
	switch code := sdk.CodeOf(err); code {
	case sdk.CodeNotFound:
		if lerr := s.files.Lost(context.WithoutCancel(c.Request.Context()), f); lerr != nil {
			s.log.Warn("cannot forget a lost file", "file", f.MirrorID, "error", lerr)
		}
		abortError(c, http.StatusNotFound, codeNotFound, "the back end no longer has this file; it has been removed from the feed")
	case sdk.CodeThrottled, sdk.CodeUnavailable:
		if errors.As(err, &se) && se.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(int(max(se.RetryAfter/time.Second, 1))))
		}
		s.log.Info("file back end unavailable", "file", f.MirrorID, "source", f.Source, "error", err)
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "the file's back end is unavailable; retry later")
	default:
		s.log.Warn("file read failed", "file", f.MirrorID, "source", f.Source, "error", err)
		abortError(c, http.StatusBadGateway, codeBackendError, "the file's back end failed to serve it; see the hub's log")
	}
}

// byteRange is a satisfiable single range: n bytes from off.
type byteRange struct {
	off, n int64
	ok     bool
}

// parseRange reads a Range header against a file of size bytes. A missing,
// malformed, multi-range or non-byte Range gives a zero byteRange (send
// the whole file, RFC 9110 §14.2); an unsatisfiable one an error.
func parseRange(h string, size int64) (byteRange, error) {
	unit, spec, ok := strings.Cut(strings.TrimSpace(h), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return byteRange{}, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return byteRange{}, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return byteRange{}, nil
		}
		if n == 0 || size == 0 {
			return byteRange{}, fmt.Errorf("range %q selects no byte", h)
		}
		n = min(n, size)
		return byteRange{off: size - n, n: n, ok: true}, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return byteRange{}, nil
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return byteRange{}, nil
		}
		b = min(b, size-1)
	}
	if a >= size {
		return byteRange{}, fmt.Errorf("range %q starts at or beyond the end", h)
	}
	return byteRange{off: a, n: b - a + 1, ok: true}, nil
}

// fileETag is a strong ETag from the file's content hash, else its
// version; "" when the back end gives neither.
func fileETag(hash, version string) string {
	v := hash
	if v == "" {
		v = version
	}
	if v == "" {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x21 || b == '"' || b > 0x7e {
			sum := sha256.Sum256([]byte(v))
			v = base64.RawURLEncoding.EncodeToString(sum[:18])
			break
		}
	}
	return `"` + v + `"`
}

// etagListMatches reads If-None-Match: "*" or a list of ETags compared
// weakly (RFC 9110 §13.1.2).
func etagListMatches(header, etag string) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return false
	}
	if header == "*" {
		return true
	}
	for part := range strings.SplitSeq(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(part), "W/") == etag {
			return true
		}
	}
	return false
}

// contentDisposition names the file for the device (RFC 6266): an ASCII
// filename for old clients and filename* in UTF-8 when the name needs it.
func contentDisposition(name string) string {
	var ascii strings.Builder
	plain := true
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			ascii.WriteByte('_')
			plain = false
			continue
		}
		ascii.WriteRune(r)
	}
	out := `attachment; filename="` + ascii.String() + `"`
	if plain {
		return out
	}
	var enc strings.Builder
	for _, b := range []byte(name) {
		if b < 0x80 && (unicode.IsLetter(rune(b)) || unicode.IsDigit(rune(b)) || strings.IndexByte("!#$&+-.^_`|~", b) >= 0) {
			enc.WriteByte(b)
			continue
		}
		fmt.Fprintf(&enc, "%%%02X", b)
	}
	return out + "; filename*=UTF-8''" + enc.String()
}

// uploadJSON is an upload as the device sees it.
type uploadJSON struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Source   string `json:"source"`
	Entity   string `json:"entity"`
	RecordID string `json:"record_id"`
	Name     string `json:"name"`
	MimeType string `json:"mime_type"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	// FileID is the file's "_file" id once the upload is done.
	FileID    string    `json:"file_id,omitempty"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func newUploadJSON(u store.FileUpload) uploadJSON {
	out := uploadJSON{ID: u.ID, Status: u.Status, Source: u.Source, Entity: u.Entity, RecordID: u.RecordID,
		Name: u.Name, MimeType: u.MimeType, Size: u.Size, SHA256: u.SHA256, FileID: u.FileMirrorID,
		CreatedAt: u.CreatedAt.UTC()}
	if u.Status == store.UploadFailed {
		out.Error = u.LastError
	}
	return out
}

// postFile is POST /v1/sources/{source}/files?entity=&id=&name=.
func (s *Server) postFile(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	entity, id, name := c.Query("entity"), c.Query("id"), c.Query("name")
	if entity == "" || id == "" || name == "" {
		abortError(c, http.StatusBadRequest, codeInvalidParameter, "entity, id and name are required query parameters")
		return
	}
	idx := slices.IndexFunc(v.entities, func(e *config.Entity) bool { return e.Name == entity })
	if idx < 0 {
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("entity %q of source %q not found", entity, v.src.Name))
		return
	}
	if v.entities[idx].ReadOnly {
		abortError(c, http.StatusForbidden, codeForbidden, fmt.Sprintf("entity %q is read-only: its records take no files", entity))
		return
	}
	rec, err := s.st.GetRecord(ctx, v.src.Name, entity, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !slices.Contains(v.partitions, rec.Partition)) {
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("record %q of entity %q not found", id, entity))
		return
	}
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	if err := files.CheckName(name); err != nil {
		abortError(c, http.StatusBadRequest, codeInvalidParameter, err.Error())
		return
	}
	ctype := "application/octet-stream"
	if raw := c.GetHeader("Content-Type"); raw != "" {
		mt, params, err := mime.ParseMediaType(raw)
		if err != nil {
			abortError(c, http.StatusBadRequest, codeInvalidParameter, "Content-Type is not a media type: "+err.Error())
			return
		}
		ctype = mime.FormatMediaType(mt, params)
	}
	key := c.GetHeader("Idempotency-Key")
	if len(key) > 200 || strings.IndexFunc(key, unicode.IsControl) >= 0 {
		abortError(c, http.StatusBadRequest, codeInvalidParameter, "Idempotency-Key must be at most 200 characters without control characters")
		return
	}
	if s.files == nil {
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "this hub does not take files")
		return
	}
	if limit := s.files.MaxUploadBytes(); c.Request.ContentLength > limit {
		abortError(c, http.StatusRequestEntityTooLarge, codeBodyTooLarge, fmt.Sprintf("file is larger than %d bytes", limit))
		return
	}
	who := callerOf(c)
	u, _, err := s.files.Upload(ctx, files.UploadRequest{Source: v.src.Name, Entity: entity, RecordID: id, Name: name,
		MimeType: ctype, UserID: who.user.ID, DeviceID: who.device.ID, Key: key, Size: c.Request.ContentLength}, c.Request.Body)
	switch {
	case err == nil:
	case errors.Is(err, files.ErrTooLarge):
		abortError(c, http.StatusRequestEntityTooLarge, codeBodyTooLarge, err.Error())
		return
	case errors.Is(err, files.ErrInvalidName):
		abortError(c, http.StatusBadRequest, codeInvalidParameter, err.Error())
		return
	case errors.Is(err, files.ErrNoWriter):
		abortError(c, http.StatusConflict, codeNoFileStore, fmt.Sprintf("no source stores files of source %q's records", v.src.Name))
		return
	case errors.Is(err, files.ErrIncomplete), errors.Is(err, files.ErrBody):
		abortError(c, http.StatusBadRequest, codeInvalidBody, err.Error())
		return
	default:
		s.abortInternal(c, err)
		return
	}
	c.JSON(http.StatusAccepted, newUploadJSON(u))
}

// getUpload is GET /v1/sources/{source}/files/uploads/{id}: the calling
// device's own upload.
func (s *Server) getUpload(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok {
		return
	}
	id := c.Param("id")
	u, err := s.st.GetFileUpload(c.Request.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.abortInternal(c, err)
		return
	}
	who := callerOf(c)
	if err != nil || u.DeviceID != who.device.ID || u.UserID != who.user.ID || u.Source != v.src.Name {
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("upload %q not found", id))
		return
	}
	c.JSON(http.StatusOK, newUploadJSON(u))
}

type adminFileListing struct {
	Files            int64      `json:"files"`
	CursorPresent    bool       `json:"cursor_present"`
	FullRunning      bool       `json:"full_running"`
	LastListStarted  *time.Time `json:"last_list_started"`
	LastListFinished *time.Time `json:"last_list_finished"`
	LastSuccess      *time.Time `json:"last_success"`
	LastError        string     `json:"last_error,omitempty"`
}

type adminOrphan struct {
	Path   string    `json:"path"`
	SeenAt time.Time `json:"seen_at"`
}

type adminUnresolved struct {
	ID      string        `json:"id"`
	FileID  string        `json:"file_id"`
	Name    string        `json:"name"`
	Path    string        `json:"path,omitempty"`
	Record  sdk.RecordRef `json:"record"`
	Problem string        `json:"problem"`
}

// adminFileProblems is GET /v1/admin/sources/{source}/files/problems.
func (s *Server) adminFileProblems(c *gin.Context) {
	src, ok := s.adminSource(c)
	if !ok {
		return
	}
	limit, ok := queryLimit(c, 1000, 10000)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	st, err := s.st.FileSourceState(ctx, src.Name)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	count, err := s.st.CountFiles(ctx, src.Name)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	orphans, unresolved, err := s.st.FileProblems(ctx, src.Name, limit)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	feed := src.Name
	if src.AttachTo != "" {
		feed = src.AttachTo
	}
	out := struct {
		Source     string            `json:"source"`
		Feed       string            `json:"feed"`
		Listing    adminFileListing  `json:"listing"`
		Orphans    []adminOrphan     `json:"orphans"`
		Unresolved []adminUnresolved `json:"unresolved"`
	}{Source: src.Name, Feed: feed, Orphans: []adminOrphan{}, Unresolved: []adminUnresolved{},
		Listing: adminFileListing{Files: count, CursorPresent: st.Cursor != "", FullRunning: st.FullRunning,
			LastListStarted: utcPtr(st.LastListStarted), LastListFinished: utcPtr(st.LastListFinished),
			LastSuccess: utcPtr(st.LastSuccess), LastError: st.LastError}}
	for _, o := range orphans {
		out.Orphans = append(out.Orphans, adminOrphan{Path: o.Path, SeenAt: o.SeenAt.UTC()})
	}
	for _, f := range unresolved {
		out.Unresolved = append(out.Unresolved, adminUnresolved{ID: f.MirrorID, FileID: f.FileID, Name: f.Name, Path: f.Path,
			Record: sdk.RecordRef{Entity: f.RecordEntity, ID: f.RecordID, Name: f.RecordName}, Problem: f.Problem})
	}
	c.JSON(http.StatusOK, out)
}

// adminFileSync is POST /v1/admin/sources/{source}/files/sync.
func (s *Server) adminFileSync(c *gin.Context) {
	src, ok := s.adminSource(c)
	if !ok {
		return
	}
	var req struct {
		Full bool `json:"full"`
	}
	if !s.decodeJSON(c, &req, true) {
		return
	}
	if s.files == nil {
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "this hub does not list files")
		return
	}
	err := s.files.Trigger(c.Request.Context(), src.Name, req.Full)
	switch {
	case errors.Is(err, files.ErrNoFiles):
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("source %q does not list files", src.Name))
		return
	case err != nil:
		s.log.Warn("admin file listing not queued", "source", src.Name, "error", err)
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "file listing not queued: "+err.Error())
		return
	}
	s.log.Info("admin queued a file listing", "admin", callerOf(c).user.Name, "source", src.Name, "full", req.Full)
	c.JSON(http.StatusAccepted, gin.H{"source": src.Name, "full": req.Full})
}
