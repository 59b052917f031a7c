package files

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// UploadRequest is a device's upload of a file to a record. The API has
// checked that the caller sees the record.
type UploadRequest struct {
	// Source, Entity and RecordID name the record (Source is the record
	// source the device syncs).
	Source, Entity, RecordID string
	Name, MimeType           string
	UserID, DeviceID         int64
	// Key is the device's idempotency key; "" makes every upload new.
	Key string
	// Size is the announced length, -1 when unknown.
	Size int64
}

// MaxUploadBytes is the largest upload Upload takes.
func (s *Syncer) MaxUploadBytes() int64 { return s.opts.MaxUploadBytes }

// Upload stores a device's file durably and queues it for the back end:
// the body is spooled and fsynced, then the upload row and its job commit
// together. It returns the upload and whether it is new (false: the
// device's key names an earlier upload, returned as it stands).
func (s *Syncer) Upload(ctx context.Context, req UploadRequest, body io.Reader) (store.FileUpload, bool, error) {
	if err := CheckName(req.Name); err != nil {
		return store.FileUpload{}, false, err
	}
	if req.Size > s.opts.MaxUploadBytes {
		return store.FileUpload{}, false, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, req.Size, s.opts.MaxUploadBytes)
	}
	if req.Key != "" {
		u, err := s.st.DeviceFileUpload(ctx, req.DeviceID, req.Key)
		if err == nil {
			return u, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.FileUpload{}, false, err
		}
	}
	writer, err := s.writer(ctx, req.Source)
	if err != nil {
		return store.FileUpload{}, false, err
	}
	id := uuid.NewString()
	size, sum, err := s.spool(id, body, req.Size)
	if err != nil {
		return store.FileUpload{}, false, err
	}
	u := store.FileUpload{ID: id, Source: req.Source, Writer: writer.Name, UserID: req.UserID, DeviceID: req.DeviceID,
		IdemKey: req.Key, Entity: req.Entity, RecordID: req.RecordID, RecordName: s.recordName(ctx, writer.Name, req),
		Name: req.Name, MimeType: req.MimeType, Size: size, SHA256: sum, Spool: id, Status: store.UploadPending}
	if u.IdemKey == "" {
		u.IdemKey = id
	}
	if u.MimeType == "" {
		u.MimeType = "application/octet-stream"
	}
	out, inserted, err := s.st.AcceptFileUpload(ctx, u, func(ctx context.Context, tx *sql.Tx) error {
		_, err := s.inserter.InsertTx(ctx, tx, uploadArgs{ID: id}, &river.InsertOpts{Queue: s.uploadQueue, MaxAttempts: s.opts.MaxAttempts})
		return err
	})
	if err != nil || !inserted {
		s.dropSpool(id)
		return out, false, err
	}
	s.log.Debug("upload accepted", "upload", id, "source", req.Source, "writer", writer.Name, "entity", req.Entity,
		"record", req.RecordID, "size", size)
	return out, true, nil
}

// writer returns the source that stores files of source's records: the
// first document store attached to it that writes files, else source
// itself when its connector writes files.
func (s *Syncer) writer(ctx context.Context, source string) (*config.Source, error) {
	self, err := s.source(source)
	if err != nil {
		return nil, err
	}
	for i := range s.cfg.Sources {
		src := &s.cfg.Sources[i]
		if src.AttachTo != source {
			continue
		}
		if d, err := s.describe(ctx, src.Name); err == nil && d.Has(sdk.CapWriteFile) {
			return src, nil
		}
	}
	if d, err := s.describe(ctx, source); err == nil && d.Has(sdk.CapWriteFile) {
		return self, nil
	}
	return nil, fmt.Errorf("source %q: %w", source, ErrNoWriter)
}

// recordName is the record's display name for the writer's folder: the
// name its files already carry there, else the record's "name" field.
func (s *Syncer) recordName(ctx context.Context, writer string, req UploadRequest) string {
	if fs, err := s.st.FilesOfRecord(ctx, writer, req.Source, req.Entity, req.RecordID); err == nil {
		for _, f := range fs {
			if f.RecordName != "" {
				return f.RecordName
			}
		}
	}
	r, err := s.st.GetRecord(ctx, req.Source, req.Entity, req.RecordID)
	if err != nil {
		return ""
	}
	var fields struct {
		Name any `json:"name"`
	}
	if json.Unmarshal(r.Fields, &fields) == nil {
		if name, ok := fields.Name.(string); ok {
			return name
		}
	}
	return ""
}

// spool writes body to the spool as id, durably, and returns its size and
// SHA-256. want is the announced length (-1: unknown).
func (s *Syncer) spool(id string, body io.Reader, want int64) (int64, string, error) {
	tmp, err := os.CreateTemp(s.opts.SpoolDir, id+".*.part")
	if err != nil {
		return 0, "", fmt.Errorf("spool upload: %w", err)
	}
	fail := func(err error) (int64, string, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return 0, "", err
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), io.LimitReader(body, s.opts.MaxUploadBytes+1), buf)
	switch {
	case err != nil:
		return fail(fmt.Errorf("%w: %w", ErrBody, err))
	case n > s.opts.MaxUploadBytes:
		return fail(fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.opts.MaxUploadBytes))
	case want >= 0 && n != want:
		return fail(fmt.Errorf("%w: %d of %d bytes", ErrIncomplete, n, want))
	}
	if err := tmp.Sync(); err != nil {
		return fail(fmt.Errorf("spool upload: %w", err))
	}
	if err := tmp.Close(); err != nil {
		return fail(fmt.Errorf("spool upload: %w", err))
	}
	if err := os.Rename(tmp.Name(), s.spoolPath(id)); err != nil {
		os.Remove(tmp.Name())
		return 0, "", fmt.Errorf("spool upload: %w", err)
	}
	if err := syncDir(s.opts.SpoolDir); err != nil {
		s.dropSpool(id)
		return 0, "", fmt.Errorf("spool upload: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func (s *Syncer) spoolPath(name string) string { return filepath.Join(s.opts.SpoolDir, name+".upload") }

func (s *Syncer) dropSpool(name string) {
	if err := os.Remove(s.spoolPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("cannot remove a spooled upload", "upload", name, "error", err)
	}
}

// errPermanent marks an upload failure that retrying cannot fix.
type errPermanent struct{ error }

func (e errPermanent) Unwrap() error { return e.error }

// retryAfter is a throttled failure's wait.
type retryAfter struct {
	error
	after time.Duration
}

func (e retryAfter) Unwrap() error { return e.error }

// runUpload writes a pending upload to its writer and mirrors the result.
// final says this is the last attempt: a failure then fails the upload.
func (s *Syncer) runUpload(ctx context.Context, id string, final bool) error {
	u, err := s.st.GetFileUpload(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errPermanent{err}
	}
	if err != nil {
		return err
	}
	if u.Status != store.UploadPending {
		return nil
	}
	err = s.writeUpload(ctx, u)
	if err == nil {
		s.dropSpool(u.Spool)
		return nil
	}
	var perm errPermanent
	permanent := errors.As(err, &perm)
	cols := map[string]any{"attempts": u.Attempts + 1, "last_error": err.Error()}
	if permanent || final {
		cols["status"] = store.UploadFailed
	}
	if uerr := s.st.UpdateFileUpload(context.WithoutCancel(ctx), id, cols); uerr != nil {
		s.log.Warn("cannot record an upload failure", "upload", id, "error", uerr)
	}
	if permanent || final {
		s.log.Warn("upload failed for good", "upload", id, "source", u.Source, "writer", u.Writer, "name", u.Name, "error", err)
		s.dropSpool(u.Spool)
	} else {
		s.log.Info("upload will be retried", "upload", id, "writer", u.Writer, "attempt", u.Attempts+1, "error", err)
	}
	return err
}

func (s *Syncer) writeUpload(ctx context.Context, u store.FileUpload) error {
	src, err := s.source(u.Writer)
	if err != nil {
		return errPermanent{err}
	}
	feed, err := s.feed(src)
	if err != nil {
		return errPermanent{err}
	}
	body, err := os.Open(s.spoolPath(u.Spool))
	if err != nil {
		return errPermanent{fmt.Errorf("the spooled body of upload %s is gone: %w", u.ID, err)}
	}
	defer body.Close()
	client, err := s.opts.Client(u.Writer)
	if err != nil {
		return fmt.Errorf("connector of %s: %w", u.Writer, err)
	}
	ref := sdk.RecordRef{Entity: u.Entity, ID: u.RecordID, Name: u.RecordName}
	f, err := client.WriteFile(ctx, sdk.WriteFileRequest{Record: ref, Name: u.Name, MimeType: u.MimeType, Size: u.Size, Key: u.ID}, body)
	if err != nil {
		err = fmt.Errorf("write %q to %s: %w", u.Name, u.Writer, err)
		var se *sdk.Error
		switch code := sdk.CodeOf(err); {
		case code == sdk.CodeThrottled && errors.As(err, &se) && se.RetryAfter > 0:
			return retryAfter{err, se.RetryAfter}
		case code == sdk.CodeInvalidRequest, code == sdk.CodeNotFound, code == sdk.CodeUnsupported,
			code == sdk.CodeUnknownEntity, code == sdk.CodeUnknownField, code == sdk.CodeInvalidConfig:
			return errPermanent{err}
		}
		return err
	}
	if f.Record.ID == "" {
		f.Record = ref
	}
	r, ok := row(feed, f)
	if !ok {
		return errPermanent{fmt.Errorf("write %q to %s: the connector answered a file without id or record", u.Name, u.Writer)}
	}
	res, err := s.st.ApplyFiles(ctx, store.FileChanges{Source: u.Writer, Target: feed.Name, Files: []store.File{r}, CompletesUpload: u.ID})
	if err != nil {
		return err
	}
	s.notify(feed.Name, res)
	s.log.Info("upload written", "upload", u.ID, "writer", u.Writer, "file", f.ID, "size", f.Size)
	return nil
}
