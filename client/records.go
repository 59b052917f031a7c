package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/synchub/synchub/sdk/filter"
)

// Record is the device's view of a record: the server's version, with the
// device's own pending edits on top.
type Record struct {
	Source     string
	Entity     string
	ID         string
	Partition  string
	Version    string
	ModifiedAt *time.Time
	Fields     map[string]any
	// Pending is the op of the record's local change the hub has not yet
	// applied ("" when none): create or update. (A record with a pending
	// delete is not listed.)
	Pending string
}

// List returns the records of an entity matching filterText (the OData
// $filter subset of sdk/filter; "" matches all), ordered by id.
func (c *Client) List(ctx context.Context, source, entity, filterText string) ([]Record, error) {
	source, err := c.source(ctx, source)
	if err != nil {
		return nil, err
	}
	if _, err := c.entity(ctx, c.db.WithContext(ctx), source, entity); err != nil {
		return nil, err
	}
	var expr filter.Expr
	if filterText != "" {
		if expr, err = filter.Parse(filterText); err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
	}
	pending, err := c.pendingOps(ctx, source, entity)
	if err != nil {
		return nil, err
	}
	// Keyset pages over the (source, entity, id) primary key: memory stays
	// bounded by the matches, not the entity.
	var out []Record
	after := ""
	for {
		var batch []recordRow
		if err := c.db.WithContext(ctx).Where("source = ? AND entity = ? AND id > ?", source, entity, after).
			Order("id").Limit(1000).Find(&batch).Error; err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", source, entity, err)
		}
		for _, r := range batch {
			rec, err := toRecord(r)
			if err != nil {
				return nil, err
			}
			ok, err := filter.Eval(expr, rec.Fields)
			if err != nil {
				return nil, fmt.Errorf("filter: %w", err)
			}
			if ok {
				rec.Pending = pending[r.ID]
				out = append(out, rec)
			}
		}
		if len(batch) < 1000 {
			break
		}
		after = batch[len(batch)-1].ID
	}
	return out, nil
}

// Get returns one record, or an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, source, entity, id string) (Record, error) {
	source, err := c.source(ctx, source)
	if err != nil {
		return Record{}, err
	}
	if _, err := c.entity(ctx, c.db.WithContext(ctx), source, entity); err != nil {
		return Record{}, err
	}
	row, err := getRecord(c.db.WithContext(ctx), source, entity, id)
	if err != nil {
		return Record{}, err
	}
	rec, err := toRecord(*row)
	if err != nil {
		return Record{}, err
	}
	var ops []string
	if err := c.db.WithContext(ctx).Model(&changeRow{}).Where("source = ? AND entity = ? AND record_id = ?", source, entity, id).
		Order("seq DESC").Limit(1).Pluck("op", &ops).Error; err != nil {
		return Record{}, fmt.Errorf("get %s/%s/%s: %w", source, entity, id, err)
	}
	if len(ops) > 0 {
		rec.Pending = ops[0]
	}
	return rec, nil
}

// Create stores a new record locally under a client-generated id (a UUID)
// and queues its create for the next sync. It returns the id; after the
// sync the hub may have re-keyed it (see Record.ID of the synced record).
func (c *Client) Create(ctx context.Context, source, entity string, fields map[string]any) (string, error) {
	id := newID()
	err := c.edit(ctx, source, entity, func(tx *gorm.DB, src string, e EntitySchema) error {
		norm, err := checkFields(e, fields)
		if err != nil {
			return err
		}
		enc, err := encodeFields(norm)
		if err != nil {
			return err
		}
		if err := tx.Create(&recordRow{Source: src, Entity: entity, ID: id, Fields: enc}).Error; err != nil {
			return fmt.Errorf("create %s/%s: %w", src, entity, err)
		}
		return addChange(tx, c.now(), src, entity, id, OpCreate, "", norm)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// Update changes fields of a record locally and queues the change (only
// the fields given) for the next sync.
func (c *Client) Update(ctx context.Context, source, entity, id string, fields map[string]any) error {
	return c.edit(ctx, source, entity, func(tx *gorm.DB, src string, e EntitySchema) error {
		norm, err := checkFields(e, fields)
		if err != nil {
			return err
		}
		row, err := getRecord(tx, src, entity, id)
		if err != nil {
			return err
		}
		cur, err := decodeFields([]byte(row.Fields))
		if err != nil {
			return err
		}
		maps.Copy(cur, norm)
		enc, err := encodeFields(cur)
		if err != nil {
			return err
		}
		if err := tx.Model(&recordRow{}).Where("source = ? AND entity = ? AND id = ?", src, entity, id).
			Update("fields", enc).Error; err != nil {
			return fmt.Errorf("update %s/%s/%s: %w", src, entity, id, err)
		}
		return addChange(tx, c.now(), src, entity, id, OpUpdate, row.Version, norm)
	})
}

// Delete removes a record locally and queues its delete for the next sync.
func (c *Client) Delete(ctx context.Context, source, entity, id string) error {
	return c.edit(ctx, source, entity, func(tx *gorm.DB, src string, e EntitySchema) error {
		row, err := getRecord(tx, src, entity, id)
		if err != nil {
			return err
		}
		if err := tx.Where("source = ? AND entity = ? AND id = ?", src, entity, id).Delete(&recordRow{}).Error; err != nil {
			return fmt.Errorf("delete %s/%s/%s: %w", src, entity, id, err)
		}
		return addChange(tx, c.now(), src, entity, id, OpDelete, row.Version, nil)
	})
}

// edit runs one local edit of a writable entity in a transaction and wakes
// AutoSync's on_change mode.
func (c *Client) edit(ctx context.Context, source, entity string, fn func(tx *gorm.DB, source string, e EntitySchema) error) error {
	src, err := c.source(ctx, source)
	if err != nil {
		return err
	}
	err = c.txn(ctx, func(tx *gorm.DB) error {
		e, err := c.entity(ctx, tx, src, entity)
		if err != nil {
			return err
		}
		if e.ReadOnly {
			return fmt.Errorf("entity '%s' of %s: %w", entity, src, ErrReadOnly)
		}
		return fn(tx, src, e)
	})
	if err != nil {
		return err
	}
	c.signalEdit()
	return nil
}

func getRecord(tx *gorm.DB, source, entity, id string) (*recordRow, error) {
	var rows []recordRow
	if err := tx.Where("source = ? AND entity = ? AND id = ?", source, entity, id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read %s/%s/%s: %w", source, entity, id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s '%s' in %s: %w", entity, id, source, ErrNotFound)
	}
	return &rows[0], nil
}

func toRecord(r recordRow) (Record, error) {
	f, err := decodeFields([]byte(r.Fields))
	if err != nil {
		return Record{}, fmt.Errorf("record %s/%s/%s: %w", r.Source, r.Entity, r.ID, err)
	}
	return Record{Source: r.Source, Entity: r.Entity, ID: r.ID, Partition: r.Partition,
		Version: r.Version, ModifiedAt: r.ModifiedAt, Fields: f}, nil
}

// pendingOps maps the ids of an entity's records with change-log entries
// to the op of their latest entry.
func (c *Client) pendingOps(ctx context.Context, source, entity string) (map[string]string, error) {
	var rows []changeRow
	if err := c.db.WithContext(ctx).Select("record_id", "op", "seq").Where("source = ? AND entity = ?", source, entity).
		Order("seq").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.RecordID] = r.Op
	}
	return out, nil
}

// isNotFound is errors.Is(err, ErrNotFound).
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// newID returns a new record's or mutation's id: a version 7 UUID, ordered
// by time. The hub keys its mirror, partition items and mutations by these
// ids, so a device's creates reach the ends of those indexes instead of
// random places: a batch of 100 creates then writes a few index pages
// instead of a hundred, on the hub and on a back end that keys by them.
func newID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
