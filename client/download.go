package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// fileEntity is the entity under which file metadata rides the feed.
const fileEntity = "_file"

// download pages through the source's changes until has_more is false.
// Each page is applied in one transaction together with the checkpoint
// that follows it: a crash between pages resumes at the last committed
// page, never losing or applying a page twice.
func (c *Client) download(ctx context.Context, src string, rep *SourceReport, emit func(Event)) (err error) {
	start := c.now()
	defer func() {
		d := c.now().Sub(start)
		rep.DownloadTime += d
		summary := fmt.Sprintf("DownloadSync Ops=%d Pages=%d Applied=%d Resets=%d Full=%t TotalTime=%s",
			rep.Ops, rep.Pages, rep.Applied, rep.Resets, rep.FullSync, rep.DownloadTime.Round(time.Millisecond))
		c.writeLog(ctx, start, src, "DownloadSync", summary, d, err)
		ev := Event{Source: src, Phase: PhaseDownload, Step: "end", Done: int64(rep.Ops), Message: summary}
		if err != nil {
			ev.Error = err.Error()
		}
		emit(ev)
	}()
	emit(Event{Source: src, Phase: PhaseDownload, Step: "start"})
	var removeFiles []string
	defer func() {
		for _, p := range removeFiles {
			_ = os.Remove(p)
		}
	}()
	// The next page is fetched while this one is applied: the hub's and
	// the network's share of a page overlaps the device's.
	fctx, cancel := context.WithCancel(ctx)
	var ahead *pageFetch
	defer func() {
		cancel()
		if ahead != nil {
			<-ahead.done
		}
	}()
	restarted := false
	for {
		var st sourceRow
		if err := c.db.WithContext(ctx).Where("name = ?", src).First(&st).Error; err != nil {
			return fmt.Errorf("download %s: read checkpoint: %w", src, err)
		}
		f := ahead
		ahead = nil
		if f != nil && f.checkpoint != st.Checkpoint {
			<-f.done // fetched from a checkpoint no longer ours
			f = nil
		}
		if f == nil {
			f = c.fetchPage(fctx, src, st.Checkpoint)
		}
		<-f.done
		page := f.page
		if err := f.err; err != nil {
			if st.Checkpoint != "" && !restarted && badCheckpoint(err) {
				// The hub no longer takes our token (key rotated, store
				// rebuilt): start a full pass; its sweep removes what the
				// device should no longer hold.
				restarted = true
				c.log.Warn("hub refused the checkpoint: full sync", "source", src, "error", err)
				if err := c.db.WithContext(ctx).Model(&sourceRow{}).Where("name = ?", src).
					Updates(map[string]any{"checkpoint": "", "full_active": false}).Error; err != nil {
					return fmt.Errorf("download %s: clear checkpoint: %w", src, err)
				}
				continue
			}
			return fmt.Errorf("download %s page %d: %w", src, rep.Pages+1, err)
		}
		if page.HasMore && len(page.Ops) == 0 && page.Checkpoint == st.Checkpoint {
			return fmt.Errorf("download %s page %d: hub answered has_more without progress", src, rep.Pages+1)
		}
		if page.HasMore {
			ahead = c.fetchPage(fctx, src, page.Checkpoint)
		}
		var toRemove []string
		applied := 0
		err := c.txn(ctx, func(tx *gorm.DB) error {
			toRemove = toRemove[:0]
			gen, full := st.FullGen, st.FullActive
			if st.Checkpoint == "" && !st.FullActive {
				gen, full = st.FullGen+1, true
			}
			pa := pageApply{c: c, tx: tx, src: src, gen: gen}
			if err := pa.apply(&page); err != nil {
				return err
			}
			toRemove = append(toRemove, pa.removeFiles...)
			if !page.HasMore {
				if err := pa.finishApplied(); err != nil {
					return err
				}
				if full {
					if err := pa.sweep(); err != nil {
						return err
					}
					toRemove = append(toRemove, pa.removeFiles...)
					full = false
				}
			}
			applied = pa.applied
			return tx.Model(&sourceRow{}).Where("name = ?", src).Updates(map[string]any{
				"checkpoint": page.Checkpoint, "full_gen": gen, "full_active": full,
			}).Error
		})
		if err != nil {
			return fmt.Errorf("download %s page %d: apply: %w", src, rep.Pages+1, err)
		}
		removeFiles = append(removeFiles, toRemove...)
		rep.Applied += applied
		if st.Checkpoint == "" || st.FullActive {
			rep.FullSync = true
		}
		rep.Pages++
		rep.Ops += len(page.Ops)
		rep.Resets += len(page.Reset)
		emit(Event{Source: src, Phase: PhaseDownload, Step: "progress", Done: int64(rep.Ops)})
		if !page.HasMore {
			return nil
		}
	}
}

// pageFetch is a page of changes on its way: done closes when page or err
// is set.
type pageFetch struct {
	checkpoint string
	page       wireChanges
	err        error
	done       chan struct{}
}

// fetchPage fetches the page of changes after checkpoint on its own
// goroutine. The account is read here, before the caller opens a
// transaction on the store's one connection.
func (c *Client) fetchPage(ctx context.Context, src, checkpoint string) *pageFetch {
	f := &pageFetch{checkpoint: checkpoint, done: make(chan struct{})}
	acct, err := c.account(ctx)
	if err != nil {
		f.err = err
		close(f.done)
		return f
	}
	go func() {
		defer close(f.done)
		q := url.Values{"checkpoint": {checkpoint}, "limit": {strconv.Itoa(c.opts.PageSize)}}
		f.err = c.callJSON(withAccount(ctx, acct), "GET", sourcePath(src, "/changes"), q, nil, &f.page)
	}()
	return f
}

// serverVersion is the hub's version of a record: a put, or a remove.
type serverVersion struct {
	Partition  string
	Version    string
	ModifiedAt *time.Time
	Fields     string
	Removed    bool
}

// pageApply applies one page inside its transaction.
type pageApply struct {
	c           *Client
	tx          *gorm.DB
	src         string
	gen         int64
	applied     int
	removeFiles []string // content to delete after commit
}

func (p *pageApply) apply(page *wireChanges) error {
	for _, part := range page.Reset {
		if err := p.resetPartition(part); err != nil {
			return fmt.Errorf("reset %s: %w", part, err)
		}
	}
	// Applied before ops: a create re-keyed here is then matched by the
	// put under its server id in the same page.
	if err := p.markApplied(page.Applied); err != nil {
		return err
	}
	edited, err := p.editedOf(page.Ops)
	if err != nil {
		return err
	}
	plain := plainOps{puts: map[recKey]*serverVersion{}, settled: map[recKey]bool{}}
	for _, op := range page.Ops {
		var err error
		k := recKey{op.Entity, op.ID}
		allApplied, hasEntries := edited[k]
		switch {
		case op.Entity == fileEntity:
			err = p.applyFileOp(op)
		case !hasEntries:
			err = plain.add(op)
		case allApplied:
			// Every entry was applied (the device's own edits coming
			// back): they go, and the server's version is the record.
			plain.settled[k] = true
			err = plain.add(op)
		default:
			err = p.applyOp(op)
		}
		if err != nil {
			return fmt.Errorf("op %s %s/%s: %w", op.Op, op.Entity, op.ID, err)
		}
	}
	return p.applyPlain(plain)
}

type recKey struct{ entity, id string }

// editedOf returns the records of ops that have change-log entries (local
// edits, or applied ones waiting to go), each with whether every entry was
// applied. Records with entries still to send settle one by one; the
// others (nearly all of a first download, and the device's own applied
// edits coming back) take the plain path. One query per entity and chunk
// of ids.
func (p *pageApply) editedOf(ops []wireOp) (map[recKey]bool, error) {
	byEntity := map[string][]string{}
	for _, op := range ops {
		if op.Entity != fileEntity {
			byEntity[op.Entity] = append(byEntity[op.Entity], op.ID)
		}
	}
	out := map[recKey]bool{}
	for entity, ids := range byEntity {
		for part := range slices.Chunk(ids, 500) {
			var have []struct {
				RecordID string
				Pending  int64
			}
			if err := p.tx.Model(&changeRow{}).Select("record_id, SUM(CASE WHEN applied THEN 0 ELSE 1 END) AS pending").
				Where("source = ? AND entity = ? AND record_id IN ?", p.src, entity, part).Group("record_id").
				Scan(&have).Error; err != nil {
				return nil, fmt.Errorf("change log of %s: %w", entity, err)
			}
			for _, h := range have {
				out[recKey{entity, h.RecordID}] = h.Pending == 0
			}
		}
	}
	return out, nil
}

// plainOps are a page's ops of records without change-log entries still to
// send: the server's version simply becomes the record (the last op of an
// id wins, as applying them in order would); settled records' applied
// entries go.
type plainOps struct {
	puts    map[recKey]*serverVersion
	settled map[recKey]bool
}

func (po plainOps) add(op wireOp) error {
	sv, err := serverVersionOf(op)
	if err != nil {
		return err
	}
	po.puts[recKey{op.Entity, op.ID}] = sv
	return nil
}

// applyPlain writes plain ops as settle would with no entries left: the
// applied entries go, the shadow goes, the record is upserted or deleted;
// in batches per entity.
func (p *pageApply) applyPlain(po plainOps) error {
	type writes struct {
		ids, removed, settled []string
		puts                  []recordRow
	}
	byEntity := map[string]*writes{}
	for k, sv := range po.puts {
		w := byEntity[k.entity]
		if w == nil {
			w = &writes{}
			byEntity[k.entity] = w
		}
		w.ids = append(w.ids, k.id)
		if po.settled[k] {
			w.settled = append(w.settled, k.id)
		}
		if sv.Removed {
			w.removed = append(w.removed, k.id)
			continue
		}
		w.puts = append(w.puts, recordRow{Source: p.src, Entity: k.entity, ID: k.id, Partition: sv.Partition,
			Version: sv.Version, ModifiedAt: sv.ModifiedAt, Fields: sv.Fields, Gen: p.gen})
	}
	for entity, w := range byEntity {
		for part := range slices.Chunk(w.settled, 500) {
			if err := p.tx.Where("source = ? AND entity = ? AND record_id IN ? AND applied = ?", p.src, entity, part, true).
				Delete(&changeRow{}).Error; err != nil {
				return fmt.Errorf("applied edits of %s: %w", entity, err)
			}
		}
		for part := range slices.Chunk(w.ids, 500) {
			if err := p.tx.Where("source = ? AND entity = ? AND id IN ?", p.src, entity, part).Delete(&shadowRow{}).Error; err != nil {
				return fmt.Errorf("shadows of %s: %w", entity, err)
			}
		}
		for part := range slices.Chunk(w.removed, 500) {
			if err := p.tx.Where("source = ? AND entity = ? AND id IN ?", p.src, entity, part).Delete(&recordRow{}).Error; err != nil {
				return fmt.Errorf("remove %s: %w", entity, err)
			}
		}
		if len(w.puts) > 0 {
			// 8 columns a row: 4,000 variables a statement, well under
			// the bundled SQLite's 32,766.
			if err := p.tx.Clauses(clause.OnConflict{UpdateAll: true}).CreateInBatches(w.puts, 500).Error; err != nil {
				return fmt.Errorf("put %s: %w", entity, err)
			}
		}
	}
	return nil
}

// resetPartition clears a partition the hub is about to re-send: records
// without local edits go, shadows go, files go.
func (p *pageApply) resetPartition(part string) error {
	if err := p.tx.Where("source = ? AND partition = ? AND NOT EXISTS (SELECT 1 FROM change_log l WHERE l.source = records.source AND l.entity = records.entity AND l.record_id = records.id)",
		p.src, part).Delete(&recordRow{}).Error; err != nil {
		return err
	}
	if err := p.tx.Where("source = ? AND partition = ?", p.src, part).Delete(&shadowRow{}).Error; err != nil {
		return err
	}
	var files []fileRow
	if err := p.tx.Where("source = ? AND partition = ?", p.src, part).Find(&files).Error; err != nil {
		return err
	}
	for _, f := range files {
		p.removeFiles = append(p.removeFiles, p.c.contentPath(f.ID), p.c.partialPath(f.ID))
	}
	return p.tx.Where("source = ? AND partition = ?", p.src, part).Delete(&fileRow{}).Error
}

// markApplied flags the entries of applied mutations, re-keying a create
// the back end keyed itself: one query and one UPDATE per chunk, then the
// re-keys in order.
func (p *pageApply) markApplied(list []wireApplied) error {
	byMutation := make(map[string]changeRow, len(list))
	for part := range slices.Chunk(list, 500) {
		ids := make([]string, len(part))
		for i, a := range part {
			ids[i] = a.MutationID
		}
		var rows []changeRow
		if err := p.tx.Where("mutation_id IN ?", ids).Find(&rows).Error; err != nil {
			return fmt.Errorf("applied mutations: %w", err)
		}
		for _, e := range rows {
			byMutation[e.MutationID] = e
		}
	}
	var seqs []int64
	var rekeys []wireApplied
	for _, a := range list {
		e, ok := byMutation[a.MutationID]
		if !ok {
			continue // already dropped: the hub reports a mutation until it sees the device past it
		}
		p.applied++
		seqs = append(seqs, e.Seq)
		if e.Op == OpCreate && a.ID != "" && a.ID != e.RecordID {
			rekeys = append(rekeys, a)
		}
	}
	for part := range slices.Chunk(seqs, 500) {
		if err := p.tx.Model(&changeRow{}).Where("seq IN ?", part).
			Updates(map[string]any{"applied": true, "state": stateSent, "reason": ""}).Error; err != nil {
			return fmt.Errorf("applied mutations: %w", err)
		}
	}
	for _, a := range rekeys {
		e := byMutation[a.MutationID]
		if err := p.c.rekey(p.tx, p.src, e.Entity, e.RecordID, a.ID); err != nil {
			return fmt.Errorf("applied %s: %w", a.MutationID, err)
		}
	}
	return nil
}

func (p *pageApply) applyOp(op wireOp) error {
	sv, err := serverVersionOf(op)
	if err != nil {
		return err
	}
	return p.settle(op.Entity, op.ID, sv, true)
}

// serverVersionOf is the server's version a put or remove op carries.
func serverVersionOf(op wireOp) (*serverVersion, error) {
	sv := &serverVersion{Partition: op.Partition, Version: op.Version, ModifiedAt: op.ModifiedAt}
	switch op.Op {
	case "put":
		f, err := normaliseJSON(op.Fields)
		if err != nil {
			return nil, err
		}
		sv.Fields = f
	case "remove":
		sv.Removed = true
	default:
		return nil, fmt.Errorf("unknown op %q", op.Op)
	}
	return sv, nil
}

// settle decides a record's local state once a server version arrives
// (sv) or applied entries are due to go (finishApplied; sv is then the
// shadow, or nil). Applied entries are dropped; with no entries left the
// server's version becomes the record; with entries left it is kept aside
// as the shadow and the local record is left alone, unless an entry just
// went (the record is rebuilt as server version + the remaining edits) or
// there is no local record (after a repair: same rebuild).
func (p *pageApply) settle(entity, id string, sv *serverVersion, arrived bool) error {
	var entries []changeRow
	if err := p.tx.Where("source = ? AND entity = ? AND record_id = ?", p.src, entity, id).Order("seq").Find(&entries).Error; err != nil {
		return err
	}
	var remain []changeRow
	dropped := 0
	for _, e := range entries {
		if !e.Applied {
			remain = append(remain, e)
			continue
		}
		if err := p.tx.Delete(&changeRow{}, e.Seq).Error; err != nil {
			return err
		}
		dropped++
	}
	where := p.tx.Where("source = ? AND entity = ? AND id = ?", p.src, entity, id)
	if len(remain) == 0 {
		if sv == nil {
			return nil // applied without a new server version: the local record is the server's
		}
		if err := p.tx.Where("source = ? AND entity = ? AND id = ?", p.src, entity, id).Delete(&shadowRow{}).Error; err != nil {
			return err
		}
		if sv.Removed {
			return where.Delete(&recordRow{}).Error
		}
		return upsertRecord(p.tx, recordRow{Source: p.src, Entity: entity, ID: id, Partition: sv.Partition,
			Version: sv.Version, ModifiedAt: sv.ModifiedAt, Fields: sv.Fields, Gen: p.gen})
	}
	if sv != nil && arrived {
		sh := shadowRow{Source: p.src, Entity: entity, ID: id, Partition: sv.Partition, Version: sv.Version,
			ModifiedAt: sv.ModifiedAt, Fields: sv.Fields, Removed: sv.Removed, Gen: p.gen}
		if err := p.tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&sh).Error; err != nil {
			return err
		}
	}
	if sv == nil || sv.Removed {
		return nil
	}
	if dropped > 0 {
		// Edits still queued now build on the server's version, which
		// reflects the ones just dropped.
		if err := p.tx.Model(&changeRow{}).Where("source = ? AND entity = ? AND record_id = ? AND state = ? AND op IN ?",
			p.src, entity, id, statePending, []string{OpUpdate, OpDelete}).Update("base_version", sv.Version).Error; err != nil {
			return err
		}
	}
	var local []recordRow
	if err := p.tx.Where("source = ? AND entity = ? AND id = ?", p.src, entity, id).Limit(1).Find(&local).Error; err != nil {
		return err
	}
	hasDelete := false
	for _, e := range remain {
		hasDelete = hasDelete || e.Op == OpDelete
	}
	if hasDelete || (dropped == 0 && len(local) > 0) {
		return nil // never overwrite a record with a local edit
	}
	fields, err := decodeFields([]byte(sv.Fields))
	if err != nil {
		return err
	}
	for _, e := range remain {
		ef, err := decodeFields([]byte(e.Fields))
		if err != nil {
			return err
		}
		maps.Copy(fields, ef)
	}
	enc, err := encodeFields(fields)
	if err != nil {
		return err
	}
	return upsertRecord(p.tx, recordRow{Source: p.src, Entity: entity, ID: id, Partition: sv.Partition,
		Version: sv.Version, ModifiedAt: sv.ModifiedAt, Fields: enc, Gen: p.gen})
}

// finishApplied runs at a consistent point (has_more false): the mirror
// reflects every mutation the hub reported applied, so their entries go
// now, the records taking the latest server version seen (the shadow).
func (p *pageApply) finishApplied() error {
	var due []changeRow
	if err := p.tx.Where("source = ? AND applied = ?", p.src, true).Find(&due).Error; err != nil {
		return err
	}
	for _, e := range due {
		var sh []shadowRow
		if err := p.tx.Where("source = ? AND entity = ? AND id = ?", p.src, e.Entity, e.RecordID).Limit(1).Find(&sh).Error; err != nil {
			return err
		}
		var sv *serverVersion
		if len(sh) > 0 {
			sv = &serverVersion{Partition: sh[0].Partition, Version: sh[0].Version, ModifiedAt: sh[0].ModifiedAt, Fields: sh[0].Fields, Removed: sh[0].Removed}
		}
		if err := p.settle(e.Entity, e.RecordID, sv, false); err != nil {
			return fmt.Errorf("settle %s/%s: %w", e.Entity, e.RecordID, err)
		}
	}
	return nil
}

// sweep ends a full pass: a full sync sends no tombstones, so records,
// shadows and files the pass did not deliver are gone on the server.
// Records with local edits stay; their shadows are marked removed.
func (p *pageApply) sweep() error {
	if err := p.tx.Where("source = ? AND gen < ? AND NOT EXISTS (SELECT 1 FROM change_log l WHERE l.source = records.source AND l.entity = records.entity AND l.record_id = records.id)",
		p.src, p.gen).Delete(&recordRow{}).Error; err != nil {
		return err
	}
	if err := p.tx.Model(&shadowRow{}).Where("source = ? AND gen < ?", p.src, p.gen).Update("removed", true).Error; err != nil {
		return err
	}
	var files []fileRow
	if err := p.tx.Where("source = ? AND gen < ?", p.src, p.gen).Find(&files).Error; err != nil {
		return err
	}
	p.removeFiles = p.removeFiles[:0]
	for _, f := range files {
		p.removeFiles = append(p.removeFiles, p.c.contentPath(f.ID), p.c.partialPath(f.ID))
	}
	return p.tx.Where("source = ? AND gen < ?", p.src, p.gen).Delete(&fileRow{}).Error
}

func upsertRecord(tx *gorm.DB, r recordRow) error {
	return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&r).Error
}

// normaliseJSON checks a fields object and returns it as compact text
// ("{}" for none), in one pass over it: a record's fields are stored as the
// hub sent them, not decoded and encoded again.
func normaliseJSON(raw []byte) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] != '{' {
		return "", fmt.Errorf("decode fields: not a JSON object: %.40q", raw)
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return "", fmt.Errorf("decode fields: %w", err)
	}
	return b.String(), nil
}

// rekey moves a created record from the client's id to the back end's:
// the record, its change-log entries, shadow, files and queued uploads,
// and every lookup in the source's records and unsent entries that points
// at it. When the server's record already arrived under the new id, the
// local copy under the client id simply goes.
func (c *Client) rekey(tx *gorm.DB, src, entity, oldID, newID string) error {
	var exists int64
	if err := tx.Model(&recordRow{}).Where("source = ? AND entity = ? AND id = ?", src, entity, newID).Count(&exists).Error; err != nil {
		return err
	}
	old := tx.Where("source = ? AND entity = ? AND id = ?", src, entity, oldID)
	if exists > 0 {
		if err := old.Delete(&recordRow{}).Error; err != nil {
			return err
		}
	} else if err := tx.Model(&recordRow{}).Where("source = ? AND entity = ? AND id = ?", src, entity, oldID).Update("id", newID).Error; err != nil {
		return err
	}
	if err := tx.Where("source = ? AND entity = ? AND id = ?", src, entity, oldID).Delete(&shadowRow{}).Error; err != nil {
		return err
	}
	if err := tx.Model(&changeRow{}).Where("source = ? AND entity = ? AND record_id = ?", src, entity, oldID).Update("record_id", newID).Error; err != nil {
		return err
	}
	if err := tx.Model(&fileRow{}).Where("source = ? AND record_entity = ? AND record_id = ?", src, entity, oldID).Update("record_id", newID).Error; err != nil {
		return err
	}
	if err := tx.Model(&uploadRow{}).Where("source = ? AND entity = ? AND record_id = ?", src, entity, oldID).Update("record_id", newID).Error; err != nil {
		return err
	}
	schema, err := c.loadSchema(context.Background(), tx, src)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, e := range schema {
		for _, f := range e.Fields {
			if f.Type != "lookup" || seen[f.Name] {
				continue
			}
			if targets := lookupTargets(f); len(targets) > 0 && !containsString(targets, entity) {
				continue
			}
			seen[f.Name] = true
			idExpr, entExpr, path := lookupExprs(f.Name)
			q := fmt.Sprintf(`UPDATE records SET fields = json_set(fields, '%s', ?) WHERE source = ? AND %s = ? AND coalesce(%s, ?) = ?`,
				path, idExpr, entExpr)
			if err := tx.Exec(q, newID, src, oldID, entity, entity).Error; err != nil {
				return fmt.Errorf("re-key lookups %s: %w", f.Name, err)
			}
			q = fmt.Sprintf(`UPDATE change_log SET fields = json_set(fields, '%s', ?) WHERE source = ? AND state = ? AND fields <> '' AND %s = ? AND coalesce(%s, ?) = ?`,
				path, idExpr, entExpr)
			if err := tx.Exec(q, newID, src, statePending, oldID, entity, entity).Error; err != nil {
				return fmt.Errorf("re-key pending lookups %s: %w", f.Name, err)
			}
		}
	}
	return nil
}

// lookupExprs gives the SQL for a lookup field's id and entity and the
// JSON path of its id. Plain names use the form the lookup indexes were
// built with, so the planner uses them.
func lookupExprs(field string) (idExpr, entExpr, idPath string) {
	base := "$." + field
	if !simpleName.MatchString(field) {
		base = `$."` + strings.NewReplacer(`"`, `\"`, `'`, `''`).Replace(field) + `"`
	}
	return fmt.Sprintf("json_extract(fields, '%s.id')", base), fmt.Sprintf("json_extract(fields, '%s.entity')", base), base + ".id"
}

// badCheckpoint reports the hub refusing a checkpoint token.
func badCheckpoint(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusBadRequest &&
		(e.Code == "invalid_checkpoint" || e.Code == "checkpoint_mismatch")
}
