package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/gorm"
)

// export is what a repair carries from a damaged store to the new one.
type export struct {
	meta    []metaRow
	account []accountRow
	changes []changeRow
	uploads []uploadRow
	records []recordRow // local records with change-log entries
	// lost says why the change log could not be read ("" when it was).
	lost string
}

// RepairInfo describes a repair Open made (Client.Repaired).
type RepairInfo struct {
	// Detail is what was wrong with the store.
	Detail string
	// DamagedCopy is where the damaged file was moved.
	DamagedCopy string
	// ChangesKept is the number of change-log entries carried over.
	ChangesKept int
	// ChangesLost is set when the change log could not be read at all: the
	// damaged copy is all that is left of those edits.
	ChangesLost string
	// LoggedIn is false when the account could not be read.
	LoggedIn bool
}

// repairStore rebuilds a damaged store: it reads the change log, the
// account, queued uploads and the locally edited records from the damaged
// file (refusing to go on when the change log cannot be read: pending
// edits would be lost), moves the file aside as <path>.damaged-<time>, and
// writes them into a fresh store. Everything else comes back with the next
// sync, a full pass: a record with a pending update is rebuilt from the
// server's version plus the update.
func repairStore(ctx context.Context, path string, log hclog.Logger) (*gorm.DB, *RepairInfo, error) {
	ex := exportDamaged(ctx, path, log)
	aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405"))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(path+suffix, aside+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("repair: move damaged store aside: %w", err)
		}
	}
	db, err := openStore(ctx, path, log)
	if err != nil {
		return nil, nil, fmt.Errorf("repair: new store: %w", err)
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, m := range ex.meta {
			if m.Key == "device_id" || m.Key == "data_owner" {
				if err := setMeta(tx, m.Key, m.Value); err != nil {
					return err
				}
			}
		}
		if len(ex.account) > 0 {
			if err := tx.Create(&ex.account).Error; err != nil {
				return err
			}
		}
		if len(ex.changes) > 0 {
			if err := tx.Create(&ex.changes).Error; err != nil {
				return err
			}
		}
		if len(ex.uploads) > 0 {
			if err := tx.Create(&ex.uploads).Error; err != nil {
				return err
			}
		}
		for _, r := range ex.records {
			if err := upsertRecord(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		closeDB(db)
		return nil, nil, fmt.Errorf("repair: import into new store (the damaged one is at %s): %w", aside, err)
	}
	info := &RepairInfo{DamagedCopy: aside, ChangesKept: len(ex.changes), ChangesLost: ex.lost, LoggedIn: len(ex.account) > 0}
	if ex.lost != "" {
		log.Error("local store rebuilt, but its pending changes could not be read; the damaged copy keeps them",
			"damaged_copy", aside, "error", ex.lost)
	} else {
		log.Warn("local store rebuilt: the next sync downloads everything again",
			"damaged_copy", aside, "pending_changes", len(ex.changes), "logged_in", info.LoggedIn)
	}
	return db, info, nil
}

// exportDamaged reads what it can. A change log that cannot be read is
// reported in lost, not fatal: the file is kept aside, so nothing is
// destroyed, and a device must not stay unusable.
func exportDamaged(ctx context.Context, path string, log hclog.Logger) *export {
	ex := &export{}
	db, err := gorm.Open(sqliteDialector(path+"?_busy_timeout=10000"), &gorm.Config{Logger: gormLog{log: log.Named("sql")}})
	if err != nil {
		ex.lost = rootCause(err).Error()
		return ex
	}
	defer closeDB(db)
	q := db.WithContext(ctx)
	if err := q.Order("seq").Find(&ex.changes).Error; err != nil && !noSuchTable(err) {
		ex.lost = rootCause(err).Error()
		ex.changes = nil
		return ex
	}
	if err := q.Find(&ex.meta).Error; err != nil {
		log.Warn("repair: meta unreadable: a new device id will be generated", "error", err)
	}
	if err := q.Find(&ex.account).Error; err != nil {
		log.Warn("repair: account unreadable: log in again", "error", err)
		ex.account = nil
	}
	if err := q.Find(&ex.uploads).Error; err != nil {
		log.Warn("repair: queued file uploads unreadable", "error", err)
		ex.uploads = nil
	}
	// Records with local edits: created ones come back from their create
	// entries whatever happens; edited ones from the damaged table if it
	// reads, else from the server's version plus the update at next sync.
	for _, ch := range ex.changes {
		var rows []recordRow
		err := q.Where("source = ? AND entity = ? AND id = ?", ch.Source, ch.Entity, ch.RecordID).Limit(1).Find(&rows).Error
		switch {
		case err == nil && len(rows) > 0:
			ex.records = append(ex.records, rows[0])
		case ch.Op == OpCreate:
			ex.records = append(ex.records, recordRow{Source: ch.Source, Entity: ch.Entity, ID: ch.RecordID, Fields: ch.Fields})
		}
	}
	return ex
}

// rootCause is the innermost wrapped error: SQLite's own message.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func noSuchTable(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such table")
}
