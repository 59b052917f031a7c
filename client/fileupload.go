package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// AttachFile queues a file for upload to a record: the content is copied
// into the store's outbox now (so the upload survives a restart) and sent
// during the next sync's file phase, after the record's create (if
// pending) is applied.
func (c *Client) AttachFile(ctx context.Context, source, entity, recordID, name, mime string, content io.Reader) error {
	source, err := c.source(ctx, source)
	if err != nil {
		return err
	}
	if _, err := c.entity(ctx, c.db.WithContext(ctx), source, entity); err != nil {
		return err
	}
	if _, err := getRecord(c.db.WithContext(ctx), source, entity, recordID); err != nil {
		return err
	}
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("attach: bad file name %q", name)
	}
	outbox := filepath.Join(c.filesDir, "outbox")
	if err := os.MkdirAll(outbox, 0o700); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	local := filepath.Join(outbox, uuid.NewString())
	f, err := os.OpenFile(local, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	n, err := io.Copy(f, content)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		_ = os.Remove(local)
		return fmt.Errorf("attach %s: %w", name, err)
	}
	row := uploadRow{Source: source, Entity: entity, RecordID: recordID, Name: name, MimeType: mime, Size: n,
		LocalPath: local, State: statePending, CreatedAt: c.now().UTC()}
	if err := c.db.WithContext(ctx).Create(&row).Error; err != nil {
		_ = os.Remove(local)
		return fmt.Errorf("attach %s: %w", name, err)
	}
	c.signalEdit()
	return nil
}

// uploadFiles sends the queued uploads whose record exists on the hub (no
// create still pending for it).
func (c *Client) uploadFiles(ctx context.Context, rep *FileReport) error {
	var ups []uploadRow
	if err := c.db.WithContext(ctx).Where("state = ?", statePending).Order("id").Find(&ups).Error; err != nil {
		return fmt.Errorf("file uploads: %w", err)
	}
	for _, u := range ups {
		var creates int64
		if err := c.db.WithContext(ctx).Model(&changeRow{}).Where("source = ? AND entity = ? AND record_id = ? AND op = ?",
			u.Source, u.Entity, u.RecordID, OpCreate).Count(&creates).Error; err != nil {
			return fmt.Errorf("file uploads: %w", err)
		}
		if creates > 0 {
			continue // the record is not on the hub yet
		}
		err := c.postFile(ctx, u.Source, u.Entity, u.RecordID, u.Name, u.MimeType, u.Size, func() (io.ReadCloser, error) {
			return os.Open(u.LocalPath)
		})
		if err != nil {
			if fatalErr(err) {
				return fmt.Errorf("upload file %s: %w", u.Name, err)
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 && apiErr.Status != http.StatusTooManyRequests {
				_ = c.db.WithContext(ctx).Model(&uploadRow{}).Where("id = ?", u.ID).Updates(map[string]any{"state": stateError, "error": err.Error()}).Error
			}
			rep.Failed++
			c.log.Warn("file upload failed", "name", u.Name, "record", u.Entity+"/"+u.RecordID, "error", err)
			continue
		}
		if err := c.txn(ctx, func(tx *gorm.DB) error { return tx.Delete(&uploadRow{}, u.ID).Error }); err != nil {
			return fmt.Errorf("file uploads: %w", err)
		}
		_ = os.Remove(u.LocalPath)
		rep.Uploaded++
	}
	return nil
}
