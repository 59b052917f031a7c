package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Upload statuses (FileUpload.Status).
const (
	UploadPending = "pending"
	UploadDone    = "done"
	UploadFailed  = "failed"
)

// FileUpload is a file a device uploaded to a record: its body waits in
// the spool (Spool, a file name in the hub's upload directory) until the
// file stage has written it to Writer, the source that stores the files of
// Source's records. (DeviceID, IdemKey) is the device's idempotency key.
type FileUpload struct {
	ID           string `gorm:"primaryKey;size:64"`
	Source       string `gorm:"size:200;not null;index:idx_file_uploads_status,priority:1"`
	Writer       string `gorm:"size:200;not null"`
	UserID       int64  `gorm:"not null"`
	DeviceID     int64  `gorm:"not null;uniqueIndex:idx_file_uploads_key,priority:1"`
	IdemKey      string `gorm:"size:200;not null;uniqueIndex:idx_file_uploads_key,priority:2"`
	Entity       string `gorm:"size:200;not null"`
	RecordID     string `gorm:"size:200;not null"`
	RecordName   string `gorm:"size:400;not null;default:''"`
	Name         string `gorm:"size:1024;not null"`
	MimeType     string `gorm:"size:200;not null;default:''"`
	Size         int64  `gorm:"not null"`
	SHA256       string `gorm:"size:64;not null"`
	Spool        string `gorm:"size:200;not null"`
	Status       string `gorm:"size:20;not null;index:idx_file_uploads_status,priority:2"`
	Attempts     int    `gorm:"not null;default:0"`
	LastError    string `gorm:"type:text;not null;default:''"`
	FileID       string `gorm:"size:1024;not null;default:''"`
	FileMirrorID string `gorm:"size:200;not null;default:''"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DoneAt       *time.Time
}

// AcceptFileUpload stores u and runs enqueue (the job queue's
// transactional insert) in one transaction. When the device already
// uploaded under the same key, nothing is written and the stored upload is
// returned with inserted false.
func (s *Store) AcceptFileUpload(ctx context.Context, u FileUpload, enqueue func(ctx context.Context, tx *sql.Tx) error) (out FileUpload, inserted bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "device_id"}, {Name: "idem_key"}}, DoNothing: true}).Create(&u)
		if q.Error != nil {
			return fmt.Errorf("insert upload: %w", q.Error)
		}
		if q.RowsAffected == 0 {
			return tx.Where("device_id = ? AND idem_key = ?", u.DeviceID, u.IdemKey).Take(&out).Error
		}
		out, inserted = u, true
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return errors.New("enqueue upload: the transaction is not a database/sql transaction")
		}
		return enqueue(ctx, sqlTx)
	})
	if err != nil {
		return FileUpload{}, false, fmt.Errorf("accept upload of %s to %s/%s: %w", u.Name, u.Entity, u.RecordID, err)
	}
	return out, inserted, nil
}

// DeviceFileUpload returns the device's upload with that key, or
// ErrNotFound.
func (s *Store) DeviceFileUpload(ctx context.Context, deviceID int64, key string) (FileUpload, error) {
	var out []FileUpload
	if err := s.rdb.WithContext(ctx).Where("device_id = ? AND idem_key = ?", deviceID, key).Limit(1).Find(&out).Error; err != nil {
		return FileUpload{}, fmt.Errorf("upload %s: %w", key, err)
	}
	if len(out) == 0 {
		return FileUpload{}, fmt.Errorf("upload %s: %w", key, ErrNotFound)
	}
	return out[0], nil
}

// GetFileUpload returns an upload by id, or ErrNotFound.
func (s *Store) GetFileUpload(ctx context.Context, id string) (FileUpload, error) {
	var out []FileUpload
	if err := s.rdb.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&out).Error; err != nil {
		return FileUpload{}, fmt.Errorf("upload %s: %w", id, err)
	}
	if len(out) == 0 {
		return FileUpload{}, fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// UpdateFileUpload sets columns of an upload.
func (s *Store) UpdateFileUpload(ctx context.Context, id string, cols map[string]any) error {
	updates := map[string]any{"updated_at": time.Now().UTC()}
	for k, v := range cols {
		updates[k] = v
	}
	if err := s.db.WithContext(ctx).Model(&FileUpload{}).Where("id = ?", id).Updates(updates).Error; err != nil {
		return fmt.Errorf("update upload %s: %w", id, err)
	}
	return nil
}

// PendingFileUploads lists uploads not yet written, oldest first.
func (s *Store) PendingFileUploads(ctx context.Context, limit int) ([]FileUpload, error) {
	var out []FileUpload
	if err := s.db.WithContext(ctx).Where("status = ?", UploadPending).Order("created_at").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("pending uploads: %w", err)
	}
	return out, nil
}
