package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// localErrorPrefix marks the ids of errors the device knows of itself: a
// mutation the hub rejected at upload (it never stored it).
const localErrorPrefix = "local-"

// The resolutions of a sync error.
const (
	// ResolveKeepMine re-sends the device's change, forced.
	ResolveKeepMine = "keep_mine"
	// ResolveTakeServer drops the device's change; the server's record wins.
	ResolveTakeServer = "take_server"
	// ResolveMerged sends the given fields instead.
	ResolveMerged = "merged"
)

// SyncError is a change of this device the hub did not apply: a conflict,
// a rejection, a record gone on the server. It stays until resolved.
type SyncError struct {
	ID                string
	Source            string
	MutationID        string
	Entity            string
	RecordID          string
	Reason            string
	Status            string
	ServerRecord      map[string]any
	DeviceRecord      map[string]any
	ConflictingFields []string
	// Local errors were rejected at upload: the hub never stored them, so
	// they are resolved on the device alone.
	Local bool
}

// unresolved reports whether a hub status leaves the error open.
func unresolved(status string) bool {
	switch strings.ToLower(status) {
	case "resolved", "applied", "discarded", "dropped", "done":
		return false
	}
	return true
}

// refreshSyncErrors replaces the cache of the source's sync errors and
// marks their change-log entries as errors.
func (c *Client) refreshSyncErrors(ctx context.Context, src string, rep *SourceReport) error {
	var we wireSyncErrors
	if err := c.callJSON(ctx, "GET", sourcePath(src, "/sync-errors"), nil, nil, &we); err != nil {
		if isNotFoundAPI(err) {
			c.log.Debug("hub has no sync-errors endpoint yet", "source", src)
			return nil
		}
		return fmt.Errorf("sync %s: sync errors: %w", src, err)
	}
	err := c.txn(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("source = ?", src).Delete(&syncErrorRow{}).Error; err != nil {
			return err
		}
		for _, e := range we.Errors {
			cf, _ := json.Marshal(e.ConflictingFields)
			row := syncErrorRow{Source: src, ID: e.ID, MutationID: e.MutationID, Entity: e.Entity, RecordID: e.RecordID,
				Reason: e.Reason, Status: e.Status, ServerRecord: rawOrEmpty(e.ServerRecord), DeviceRecord: rawOrEmpty(e.DeviceRecord),
				ConflictingFields: string(cf), Resolved: !unresolved(e.Status)}
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			if row.Resolved {
				continue
			}
			if err := tx.Model(&changeRow{}).Where("mutation_id = ? AND applied = ? AND state IN ?", e.MutationID, false,
				[]string{stateSending, stateSent}).Updates(map[string]any{"state": stateError, "reason": e.Reason}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync %s: save sync errors: %w", src, err)
	}
	errs, err := c.Errors(ctx, src)
	if err != nil {
		return err
	}
	rep.Errors = len(errs)
	return nil
}

func rawOrEmpty(r json.RawMessage) string {
	if len(r) == 0 || string(r) == "null" {
		return ""
	}
	return string(r)
}

// Errors lists the unresolved sync errors of a source ("" = all sources):
// the hub's, as of the last sync, and the mutations it rejected at upload.
func (c *Client) Errors(ctx context.Context, source string) ([]SyncError, error) {
	q := c.db.WithContext(ctx).Where("resolved = ?", false)
	if source != "" {
		q = q.Where("source = ?", source)
	}
	var rows []syncErrorRow
	if err := q.Order("source, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read sync errors: %w", err)
	}
	out := make([]SyncError, 0, len(rows))
	for _, r := range rows {
		e := SyncError{ID: r.ID, Source: r.Source, MutationID: r.MutationID, Entity: r.Entity, RecordID: r.RecordID,
			Reason: r.Reason, Status: r.Status}
		e.ServerRecord, _ = decodeObject(r.ServerRecord)
		e.DeviceRecord, _ = decodeObject(r.DeviceRecord)
		_ = json.Unmarshal([]byte(r.ConflictingFields), &e.ConflictingFields)
		out = append(out, e)
	}
	lq := c.db.WithContext(ctx).Where("state = ? AND reason <> ''", stateError)
	if source != "" {
		lq = lq.Where("source = ?", source)
	}
	var local []changeRow
	if err := lq.Order("seq").Find(&local).Error; err != nil {
		return nil, fmt.Errorf("read sync errors: %w", err)
	}
	known := map[string]bool{}
	for _, e := range out {
		known[e.MutationID] = true
	}
	for _, l := range local {
		if known[l.MutationID] {
			continue
		}
		dev, _ := decodeFields([]byte(l.Fields))
		out = append(out, SyncError{ID: localErrorPrefix + l.MutationID, Source: l.Source, MutationID: l.MutationID,
			Entity: l.Entity, RecordID: l.RecordID, Reason: l.Reason, Status: "rejected", DeviceRecord: dev, Local: true})
	}
	return out, nil
}

func decodeObject(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	return decodeFields([]byte(s))
}

// Resolve settles a sync error: keep_mine (the hub re-sends the change,
// forced), take_server (the change is dropped and the server's record
// restored locally) or merged (use ResolveMerged). Resolution may also be
// spelled keep-mine / take-server.
func (c *Client) Resolve(ctx context.Context, source, errID, resolution string) error {
	return c.resolve(ctx, source, errID, strings.ReplaceAll(resolution, "-", "_"), nil)
}

// ResolveMerged settles a sync error by sending fields in place of the
// device's change.
func (c *Client) ResolveMerged(ctx context.Context, source, errID string, fields map[string]any) error {
	return c.resolve(ctx, source, errID, ResolveMerged, fields)
}

func (c *Client) resolve(ctx context.Context, source, errID, resolution string, fields map[string]any) error {
	switch resolution {
	case ResolveKeepMine, ResolveTakeServer, ResolveMerged:
	default:
		return fmt.Errorf("resolution %q: want keep-mine or take-server", resolution)
	}
	all, err := c.Errors(ctx, source)
	if err != nil {
		return err
	}
	var se *SyncError
	for i := range all {
		if all[i].ID == errID {
			se = &all[i]
		}
	}
	if se == nil {
		return fmt.Errorf("sync error %s: %w", errID, ErrNotFound)
	}
	if !se.Local {
		path := sourcePath(se.Source, "/sync-errors/"+urlPathEscape(se.ID)+"/resolve")
		if err := c.callJSON(ctx, "POST", path, nil, wireResolve{Resolution: resolution, Fields: fields}, nil); err != nil {
			return fmt.Errorf("resolve %s: %w", errID, err)
		}
	}
	err = c.txn(ctx, func(tx *gorm.DB) error {
		if !se.Local {
			if err := tx.Model(&syncErrorRow{}).Where("source = ? AND id = ?", se.Source, se.ID).Update("resolved", true).Error; err != nil {
				return err
			}
		}
		var entries []changeRow
		if err := tx.Where("mutation_id = ?", se.MutationID).Limit(1).Find(&entries).Error; err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		e := entries[0]
		switch resolution {
		case ResolveTakeServer:
			return c.takeServer(tx, se, e)
		case ResolveMerged:
			if err := c.overlayLocal(tx, e, fields); err != nil {
				return err
			}
		}
		if se.Local {
			// The hub never stored it: send it again under a new id.
			return tx.Model(&changeRow{}).Where("seq = ?", e.Seq).Updates(map[string]any{
				"state": statePending, "reason": "", "mutation_id": newID()}).Error
		}
		return tx.Model(&changeRow{}).Where("seq = ?", e.Seq).Updates(map[string]any{"state": stateSent, "reason": ""}).Error
	})
	if err != nil {
		return fmt.Errorf("resolve %s locally: %w", errID, err)
	}
	return nil
}

// takeServer drops a change and restores the server's record: the shadow
// when the device has one, else the error's server record; a create with
// neither is simply removed.
func (c *Client) takeServer(tx *gorm.DB, se *SyncError, e changeRow) error {
	if err := tx.Delete(&changeRow{}, e.Seq).Error; err != nil {
		return err
	}
	var more int64
	if err := tx.Model(&changeRow{}).Where("source = ? AND entity = ? AND record_id = ?", e.Source, e.Entity, e.RecordID).Count(&more).Error; err != nil {
		return err
	}
	if more > 0 {
		return nil // later edits stay; they will meet the server's version
	}
	where := tx.Where("source = ? AND entity = ? AND id = ?", e.Source, e.Entity, e.RecordID)
	var sh []shadowRow
	if err := tx.Where("source = ? AND entity = ? AND id = ?", e.Source, e.Entity, e.RecordID).Limit(1).Find(&sh).Error; err != nil {
		return err
	}
	if len(sh) > 0 {
		if err := tx.Where("source = ? AND entity = ? AND id = ?", e.Source, e.Entity, e.RecordID).Delete(&shadowRow{}).Error; err != nil {
			return err
		}
		if sh[0].Removed {
			return where.Delete(&recordRow{}).Error
		}
		return upsertRecord(tx, recordRow{Source: e.Source, Entity: e.Entity, ID: e.RecordID, Partition: sh[0].Partition,
			Version: sh[0].Version, ModifiedAt: sh[0].ModifiedAt, Fields: sh[0].Fields, Gen: sh[0].Gen})
	}
	if se.ServerRecord != nil {
		fields, version := se.ServerRecord, ""
		if f, ok := se.ServerRecord["fields"].(map[string]any); ok {
			fields = f
			version, _ = se.ServerRecord["version"].(string)
		}
		enc, err := encodeFields(fields)
		if err != nil {
			return err
		}
		var cur []recordRow
		if err := tx.Where("source = ? AND entity = ? AND id = ?", e.Source, e.Entity, e.RecordID).Limit(1).Find(&cur).Error; err != nil {
			return err
		}
		row := recordRow{Source: e.Source, Entity: e.Entity, ID: e.RecordID, Version: version, Fields: enc}
		if len(cur) > 0 {
			row.Partition, row.Gen = cur[0].Partition, cur[0].Gen
			if version == "" {
				row.Version = cur[0].Version
			}
		}
		return upsertRecord(tx, row)
	}
	if e.Op == OpCreate {
		return where.Delete(&recordRow{}).Error
	}
	return nil
}

// overlayLocal writes merged fields onto the local record and the entry.
func (c *Client) overlayLocal(tx *gorm.DB, e changeRow, fields map[string]any) error {
	ef, err := decodeFields([]byte(e.Fields))
	if err != nil {
		return err
	}
	for k, v := range fields {
		ef[k] = v
	}
	enc, err := encodeFields(ef)
	if err != nil {
		return err
	}
	if err := tx.Model(&changeRow{}).Where("seq = ?", e.Seq).Update("fields", enc).Error; err != nil {
		return err
	}
	cur, err := getRecord(tx, e.Source, e.Entity, e.RecordID)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	rf, err := decodeFields([]byte(cur.Fields))
	if err != nil {
		return err
	}
	for k, v := range fields {
		rf[k] = v
	}
	renc, err := encodeFields(rf)
	if err != nil {
		return err
	}
	return tx.Model(&recordRow{}).Where("source = ? AND entity = ? AND id = ?", e.Source, e.Entity, e.RecordID).Update("fields", renc).Error
}
