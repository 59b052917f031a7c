package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Entity state columns, for Batch.State.
const (
	ColCursor              = "cursor"
	ColFullCursor          = "full_cursor"
	ColFullRunning         = "full_running"
	ColDeleteCursor        = "delete_cursor"
	ColPendingDeleteCursor = "pending_delete_cursor"
	ColLastFull            = "last_full"
	ColLastReconcile       = "last_reconcile"
)

// EnsureEntityState creates the source's and the entity's rows when missing
// and returns the entity's state.
func (s *Store) EnsureEntityState(ctx context.Context, source, entity string) (EntityState, error) {
	db := s.db.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&Source{Name: source}).Error; err != nil {
		return EntityState{}, fmt.Errorf("ensure source %s: %w", source, err)
	}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&EntityState{Source: source, Entity: entity}).Error; err != nil {
		return EntityState{}, fmt.Errorf("ensure entity state %s/%s: %w", source, entity, err)
	}
	var st EntityState
	if err := db.Where("source = ? AND entity = ?", source, entity).Take(&st).Error; err != nil {
		return EntityState{}, fmt.Errorf("read entity state %s/%s: %w", source, entity, err)
	}
	return st, nil
}

// StartFullPass begins a new full pass of an entity: it numbers the pass,
// records the source's seq (reconciliation's upper bound), the schema hash
// the pass builds with and the delete cursor taken for it, and clears the
// resume marker. It returns the new state.
func (s *Store) StartFullPass(ctx context.Context, source, entity, schemaHash, pendingDeleteCursor string) (EntityState, error) {
	var st EntityState
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		seq, err := sourceSeq(tx, source)
		if err != nil {
			return err
		}
		q := tx.Model(&EntityState{}).Where("source = ? AND entity = ?", source, entity).Updates(map[string]any{
			"full_pass":             gorm.Expr("full_pass + 1"),
			"full_running":          true,
			"full_cursor":           "",
			"full_start_seq":        seq,
			"schema_hash":           schemaHash,
			"pending_delete_cursor": pendingDeleteCursor,
			"updated_at":            time.Now().UTC(),
		})
		if q.Error != nil {
			return q.Error
		}
		if q.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Where("source = ? AND entity = ?", source, entity).Take(&st).Error
	})
	if err != nil {
		return EntityState{}, fmt.Errorf("start full pass %s/%s: %w", source, entity, err)
	}
	return st, nil
}

// UpdateEntityState sets columns of an entity's state (which must exist).
func (s *Store) UpdateEntityState(ctx context.Context, source, entity string, cols map[string]any) error {
	updates := map[string]any{"updated_at": time.Now().UTC()}
	for k, v := range cols {
		updates[k] = v
	}
	err := s.db.WithContext(ctx).Model(&EntityState{}).Where("source = ? AND entity = ?", source, entity).
		Updates(updates).Error
	if err != nil {
		return fmt.Errorf("update entity state %s/%s: %w", source, entity, err)
	}
	return nil
}

// PullStarted records that a pull of the entity began.
func (s *Store) PullStarted(ctx context.Context, source, entity string, at time.Time) error {
	return s.UpdateEntityState(ctx, source, entity, map[string]any{"last_pull_started": at.UTC()})
}

// PullFinished records the end of a pull: success clears the last error;
// failure keeps the last success time and stores the error text.
func (s *Store) PullFinished(ctx context.Context, source, entity string, at time.Time, pullErr error) error {
	cols := map[string]any{"last_pull_finished": at.UTC()}
	if pullErr == nil {
		cols["last_success"] = at.UTC()
		cols["last_error"] = ""
	} else {
		cols["last_error"] = pullErr.Error()
	}
	return s.UpdateEntityState(ctx, source, entity, cols)
}

// EntityStates returns the state of every entity of source that has been
// pulled at least once, ordered by entity.
func (s *Store) EntityStates(ctx context.Context, source string) ([]EntityState, error) {
	var out []EntityState
	if err := s.rdb.WithContext(ctx).Where("source = ?", source).Order("entity").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("entity states of %s: %w", source, err)
	}
	return out, nil
}

// EntityState returns an entity's state. An entity never pulled has a zero
// state (only Source and Entity set) and no error.
func (s *Store) EntityState(ctx context.Context, source, entity string) (EntityState, error) {
	var out []EntityState
	if err := s.rdb.WithContext(ctx).Where("source = ? AND entity = ?", source, entity).Limit(1).Find(&out).Error; err != nil {
		return EntityState{}, fmt.Errorf("entity state %s/%s: %w", source, entity, err)
	}
	if len(out) == 0 {
		return EntityState{Source: source, Entity: entity}, nil
	}
	return out[0], nil
}

// SetCursor sets an entity's incremental cursor (admin): the next pull is
// incremental from it, and an interrupted full pass is abandoned.
func (s *Store) SetCursor(ctx context.Context, source, entity, cursor string) error {
	if _, err := s.EnsureEntityState(ctx, source, entity); err != nil {
		return err
	}
	return s.UpdateEntityState(ctx, source, entity, map[string]any{
		ColCursor: cursor, ColFullCursor: "", ColFullRunning: false,
	})
}

// ResetCursor makes the entity's next pull a fresh full pass (admin).
func (s *Store) ResetCursor(ctx context.Context, source, entity string) error {
	if _, err := s.EnsureEntityState(ctx, source, entity); err != nil {
		return err
	}
	return s.UpdateEntityState(ctx, source, entity, map[string]any{
		ColCursor: "", ColFullCursor: "", ColFullRunning: false,
	})
}

// CountRecords counts an entity's mirrored records.
func (s *Store) CountRecords(ctx context.Context, source, entity string) (int64, error) {
	var n int64
	if err := s.rdb.WithContext(ctx).Model(&Record{}).Where("source = ? AND entity = ?", source, entity).
		Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count records %s/%s: %w", source, entity, err)
	}
	return n, nil
}

// RecordRef is a mirrored record's id and seq.
type RecordRef struct {
	ID  string
	Seq int64
}

// ScanIDs returns up to limit of an entity's record ids above after, in id
// order, for id-only reconciliation.
func (s *Store) ScanIDs(ctx context.Context, source, entity, after string, limit int) ([]RecordRef, error) {
	var out []RecordRef
	if err := s.rdb.WithContext(ctx).Model(&Record{}).Select("id", "seq").
		Where("source = ? AND entity = ? AND id > ?", source, entity, after).
		Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("scan ids %s/%s: %w", source, entity, err)
	}
	return out, nil
}

// GetRecord returns one mirrored record, or ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, source, entity, id string) (Record, error) {
	var out []Record
	if err := s.rdb.WithContext(ctx).Where("source = ? AND entity = ? AND id = ?", source, entity, id).
		Limit(1).Find(&out).Error; err != nil {
		return Record{}, fmt.Errorf("record %s/%s/%s: %w", source, entity, id, err)
	}
	if len(out) == 0 {
		return Record{}, fmt.Errorf("record %s/%s/%s: %w", source, entity, id, ErrNotFound)
	}
	return out[0], nil
}
