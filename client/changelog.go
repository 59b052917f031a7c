package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"gorm.io/gorm"
)

// The mutation ops.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// errDeleted: an edit of a record whose delete is pending.
var errDeleted = errors.New("record is deleted locally")

// coalesce folds a new edit (op, fields) into the record's unsent entry
// (prevOp, prevFields), as the hub's push worker does: create+update =
// create with merged fields, update+update = update with merged fields,
// update+delete = delete, create+delete = nothing (keep false). Anything
// after a delete is an error: the record is gone locally.
func coalesce(prevOp string, prevFields map[string]any, op string, fields map[string]any) (outOp string, outFields map[string]any, keep bool, err error) {
	merged := func() map[string]any {
		m := make(map[string]any, len(prevFields)+len(fields))
		maps.Copy(m, prevFields)
		maps.Copy(m, fields)
		return m
	}
	switch {
	case prevOp == OpDelete:
		return "", nil, false, errDeleted
	case op == OpCreate:
		return "", nil, false, fmt.Errorf("create of a record that already has a %s pending", prevOp)
	case prevOp == OpCreate && op == OpUpdate:
		return OpCreate, merged(), true, nil
	case prevOp == OpCreate && op == OpDelete:
		return "", nil, false, nil
	case prevOp == OpUpdate && op == OpUpdate:
		return OpUpdate, merged(), true, nil
	case prevOp == OpUpdate && op == OpDelete:
		return OpDelete, nil, true, nil
	}
	return "", nil, false, fmt.Errorf("cannot coalesce %s after %s", op, prevOp)
}

// addChange records one local edit in the change log inside tx: folded
// into the record's unsent entry when it has one, else a new entry with a
// fresh mutation id. Entries already handed to the hub (sending, sent) are
// never changed: the hub dedupes on their mutation ids. A create's id is
// new (Create makes it), so no entry of it can exist to look for.
func addChange(tx *gorm.DB, now time.Time, source, entity, id, op, baseVersion string, fields map[string]any) error {
	var prev []changeRow
	if op != OpCreate {
		if err := tx.Where("source = ? AND entity = ? AND record_id = ? AND state = ?", source, entity, id, statePending).
			Order("seq DESC").Limit(1).Find(&prev).Error; err != nil {
			return fmt.Errorf("read change log: %w", err)
		}
	}
	if len(prev) == 0 {
		enc := "{}"
		if op != OpDelete {
			var err error
			if enc, err = encodeFields(fields); err != nil {
				return err
			}
		}
		row := changeRow{MutationID: newID(), Source: source, Entity: entity, RecordID: id, Op: op,
			BaseVersion: baseVersion, Fields: enc, ClientTime: now.UTC(), State: statePending}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("write change log: %w", err)
		}
		return nil
	}
	p := prev[0]
	pf, err := decodeFields([]byte(p.Fields))
	if err != nil {
		return err
	}
	newOp, newFields, keep, err := coalesce(p.Op, pf, op, fields)
	if err != nil {
		return err
	}
	if !keep {
		if err := tx.Delete(&changeRow{}, p.Seq).Error; err != nil {
			return fmt.Errorf("write change log: %w", err)
		}
		return nil
	}
	enc := "{}"
	if newOp != OpDelete {
		if enc, err = encodeFields(newFields); err != nil {
			return err
		}
	}
	if err := tx.Model(&changeRow{}).Where("seq = ?", p.Seq).Updates(map[string]any{
		"op": newOp, "fields": enc, "client_time": now.UTC(),
	}).Error; err != nil {
		return fmt.Errorf("write change log: %w", err)
	}
	return nil
}

// Change is one change-log entry, for display.
type Change struct {
	Seq         int64
	MutationID  string
	Source      string
	Entity      string
	RecordID    string
	Op          string
	BaseVersion string
	Fields      map[string]any
	ClientTime  time.Time
	// State is pending, sending, sent (accepted by the hub) or error.
	State string
	// Applied: the hub reported the mutation applied; the entry goes when
	// the server's version arrives.
	Applied bool
	Reason  string
}

// Changes lists the change log (every entry not yet dropped), oldest
// first; source "" means all sources.
func (c *Client) Changes(ctx context.Context, source string) ([]Change, error) {
	q := c.db.WithContext(ctx).Order("seq")
	if source != "" {
		q = q.Where("source = ?", source)
	}
	var rows []changeRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	out := make([]Change, 0, len(rows))
	for _, r := range rows {
		f, err := decodeFields([]byte(r.Fields))
		if err != nil {
			return nil, err
		}
		out = append(out, Change{Seq: r.Seq, MutationID: r.MutationID, Source: r.Source, Entity: r.Entity,
			RecordID: r.RecordID, Op: r.Op, BaseVersion: r.BaseVersion, Fields: f, ClientTime: r.ClientTime,
			State: r.State, Applied: r.Applied, Reason: r.Reason})
	}
	return out, nil
}
