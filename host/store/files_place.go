package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"gorm.io/gorm"
)

// fileFields is the fields object of a FileEntity record: what a device
// reads about a file. Every key is always present.
type fileFields struct {
	Name       string     `json:"name"`
	Size       int64      `json:"size"`
	MimeType   string     `json:"mime_type"`
	ModifiedAt *time.Time `json:"modified_at"`
	Hash       string     `json:"hash"`
	Version    string     `json:"version"`
	Record     fileRecord `json:"record"`
	Source     string     `json:"source"`
	Mode       string     `json:"mode"`
	Status     string     `json:"status"`
}

type fileRecord struct {
	Entity string `json:"entity"`
	ID     string `json:"id"`
}

// mirrorRecord is f as its FileEntity record.
func (f *File) mirrorRecord() (MirrorRecord, error) {
	var mod *time.Time
	if f.ModifiedAt != nil {
		t := f.ModifiedAt.UTC()
		mod = &t
	}
	data, err := json.Marshal(fileFields{Name: f.Name, Size: f.Size, MimeType: f.MimeType, ModifiedAt: mod,
		Hash: f.Hash, Version: f.Version, Record: fileRecord{Entity: f.RecordEntity, ID: f.RecordID},
		Source: f.Source, Mode: f.Mode, Status: f.Status})
	if err != nil {
		return MirrorRecord{}, fmt.Errorf("encode file %s: %w", f.FileID, err)
	}
	sum := sha256.Sum256(data)
	return MirrorRecord{ID: f.MirrorID, Version: f.Version, ModifiedAt: mod, Fields: data,
		Hash: hex.EncodeToString(sum[:]), Partition: f.Partition}, nil
}

// placeKey is a group of files whose quota is shared: a partition of a
// feed source. One user subscribes to one partition per entity and files
// are placed in the partition of their record's entity, so a partition's
// budget is exactly a device's budget for that entity.
type placeKey struct{ target, partition string }

// placement collects what a transaction did to files and then writes their
// FileEntity records: removals, and puts with the mode and status the blob
// filter and the partition's quota give.
type placement struct {
	groups  map[placeKey]bool
	dirty   map[string]bool            // mirror ids whose metadata or place changed
	removed map[string]map[string]bool // target -> mirror ids of files gone from it
}

func newPlacement() *placement {
	return &placement{groups: map[placeKey]bool{}, dirty: map[string]bool{}, removed: map[string]map[string]bool{}}
}

// remove records that the file left target (deleted or moved elsewhere).
func (p *placement) remove(target, mirrorID, partition string) {
	if p.removed[target] == nil {
		p.removed[target] = map[string]bool{}
	}
	p.removed[target][mirrorID] = true
	p.touch(target, partition)
}

// touch records that a partition's set of files changed.
func (p *placement) touch(target, partition string) {
	p.groups[placeKey{target, partition}] = true
}

// put records that a file (already written) changed or moved.
func (p *placement) put(target, mirrorID, partition string) {
	p.dirty[mirrorID] = true
	p.touch(target, partition)
}

// state is a file's mode and status.
type state struct{ mode, status string }

// apply recomputes the mode and status of the dirty files and of every
// file in a touched partition that has a quota, stores those that changed,
// and writes the FileEntity records (ApplyBatch drops unchanged ones).
func (p *placement) apply(tx *gorm.DB) (lastSeq int64, partitions []string, err error) {
	if len(p.dirty) == 0 && len(p.removed) == 0 {
		return 0, nil, nil
	}
	rows, err := filesByMirrorID(tx, slices.Collect(maps.Keys(p.dirty)))
	if err != nil {
		return 0, nil, err
	}
	want := map[string]state{}
	for _, f := range rows {
		p.touch(f.Target, f.Partition)
		want[f.MirrorID] = state{f.RuleMode, f.RuleStatus}
	}
	stored := map[string]state{}
	for _, f := range rows {
		stored[f.MirrorID] = state{f.Mode, f.Status}
	}
	for g := range p.groups {
		if g.partition == "" {
			continue
		}
		alloc, err := allocate(tx, g)
		if err != nil {
			return 0, nil, err
		}
		for id, st := range alloc.want {
			want[id] = st
			if _, ok := stored[id]; !ok {
				stored[id] = alloc.stored[id]
			}
		}
	}
	// Files whose state changes without a change of their own get their
	// record rewritten too.
	var extra []string
	for id, st := range want {
		if !p.dirty[id] && stored[id] != st {
			extra = append(extra, id)
		}
	}
	more, err := filesByMirrorID(tx, extra)
	if err != nil {
		return 0, nil, err
	}
	rows = append(rows, more...)
	// Files leaving eager get their seqs first: a device that has applied
	// any prefix of the feed is never told to fetch more than the quota.
	slices.SortStableFunc(rows, func(a, b File) int {
		ea, eb := want[a.MirrorID].mode == FileEager, want[b.MirrorID].mode == FileEager
		switch {
		case ea == eb:
			return 0
		case eb:
			return -1
		}
		return 1
	})

	changed := map[state][]string{}
	puts := map[string][]MirrorRecord{}
	for i := range rows {
		f := &rows[i]
		st := want[f.MirrorID]
		if stored[f.MirrorID] != st {
			changed[st] = append(changed[st], f.MirrorID)
		}
		f.Mode, f.Status = st.mode, st.status
		rec, err := f.mirrorRecord()
		if err != nil {
			return 0, nil, err
		}
		puts[f.Target] = append(puts[f.Target], rec)
	}
	for st, ids := range changed {
		for part := range slices.Chunk(ids, chunk) {
			if err := tx.Model(&File{}).Where("mirror_id IN ?", part).
				Updates(map[string]any{"mode": st.mode, "status": st.status}).Error; err != nil {
				return 0, nil, fmt.Errorf("store file modes: %w", err)
			}
		}
	}

	targets := map[string]bool{}
	for t := range puts {
		targets[t] = true
	}
	for t := range p.removed {
		targets[t] = true
	}
	seen := map[string]bool{}
	for _, t := range slices.Sorted(maps.Keys(targets)) {
		if err := ensureFileTarget(tx, t); err != nil {
			return 0, nil, err
		}
		res, err := applyBatch(tx, Batch{Source: t, Entity: FileEntity, Put: puts[t],
			Remove: slices.Sorted(maps.Keys(p.removed[t]))})
		if err != nil {
			return 0, nil, fmt.Errorf("mirror files of %s: %w", t, err)
		}
		lastSeq = max(lastSeq, res.LastSeq)
		for _, part := range res.Partitions {
			if !seen[part] {
				seen[part] = true
				partitions = append(partitions, part)
			}
		}
	}
	slices.Sort(partitions)
	return lastSeq, partitions, nil
}

// allocation is the outcome of a partition's quota.
type allocation struct {
	want, stored map[string]state
}

// allocate spreads a partition's quota over its eager files, newest first
// (ties by id): a file that fits is eager, one that does not is on demand
// with status quota_exceeded, and smaller files after it may still fit. A
// partition without a quota gives nothing (the rule's state stands).
func allocate(tx *gorm.DB, g placeKey) (allocation, error) {
	var quota []int64
	if err := tx.Model(&File{}).Where(`target = ? AND "partition" = ?`, g.target, g.partition).
		Pluck("COALESCE(MAX(quota), 0)", &quota).Error; err != nil {
		return allocation{}, fmt.Errorf("quota of %s %s: %w", g.target, g.partition, err)
	}
	if len(quota) == 0 || quota[0] <= 0 {
		return allocation{}, nil
	}
	var rows []File
	if err := tx.Select("mirror_id", "size", "modified_at", "rule_mode", "rule_status", "mode", "status").
		Where(`target = ? AND "partition" = ?`, g.target, g.partition).Find(&rows).Error; err != nil {
		return allocation{}, fmt.Errorf("files of %s %s: %w", g.target, g.partition, err)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i].ModifiedAt, rows[j].ModifiedAt
		switch {
		case a != nil && b != nil && !a.Equal(*b):
			return a.After(*b)
		case (a == nil) != (b == nil):
			return a != nil
		}
		return rows[i].MirrorID < rows[j].MirrorID
	})
	out := allocation{want: make(map[string]state, len(rows)), stored: make(map[string]state, len(rows))}
	left := quota[0]
	for _, f := range rows {
		out.stored[f.MirrorID] = state{f.Mode, f.Status}
		st := state{f.RuleMode, f.RuleStatus}
		if st == (state{FileEager, FileOK}) {
			if f.Size <= left {
				left -= f.Size
			} else {
				st = state{FileOnDemand, FileQuotaExceeded}
			}
		}
		out.want[f.MirrorID] = st
	}
	return out, nil
}

func filesByMirrorID(tx *gorm.DB, ids []string) ([]File, error) {
	var out []File
	slices.Sort(ids)
	for part := range slices.Chunk(ids, chunk) {
		var rows []File
		if err := tx.Where("mirror_id IN ?", part).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("load files: %w", err)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// followRecords moves the files of the given records of source's entity to
// the records' current partitions, inside the transaction that wrote the
// records: a record that changes owner takes its files along (a REMOVE in
// the old partition, a PUT in the new one, as for the record), a removed
// record takes its files out of every partition (they stay listed, as a
// problem), and a record that arrives after its files brings them in.
// ApplyBatch calls it; it returns the seqs and partitions it used.
func followRecords(tx *gorm.DB, source, entity string, ids []string) (int64, []string, error) {
	if entity == FileEntity || len(ids) == 0 {
		return 0, nil, nil
	}
	var rows []File
	for part := range slices.Chunk(ids, chunk) {
		q := newPlain(tx).sql(`SELECT source, file_id, mirror_id, target, record_id, "partition", problem FROM files WHERE target = `).
			arg(source).sql(" AND record_entity = ").arg(entity).sql(" AND ").in("record_id", part)
		err := q.each(tx, func(r *sql.Rows) error {
			var f File
			err := r.Scan(&f.Source, &f.FileID, &f.MirrorID, &f.Target, &f.RecordID, &f.Partition, &f.Problem)
			rows = append(rows, f)
			return err
		})
		if err != nil {
			return 0, nil, fmt.Errorf("files of %s/%s records: %w", source, entity, err)
		}
	}
	if len(rows) == 0 {
		return 0, nil, nil
	}
	rids := make([]string, 0, len(rows))
	for _, f := range rows {
		rids = append(rids, f.RecordID)
	}
	parts, err := recordPartitions(tx, source, entity, rids)
	if err != nil {
		return 0, nil, err
	}
	type place struct{ partition, problem string }
	moves := map[place][]string{} // new place -> record ids
	pl := newPlacement()
	for _, f := range rows {
		np := place{problem: ProblemMissingRecord}
		if p, ok := parts[f.RecordID]; ok {
			np = place{partition: p}
		}
		if np == (place{f.Partition, f.Problem}) {
			continue
		}
		if !slices.Contains(moves[np], f.RecordID) {
			moves[np] = append(moves[np], f.RecordID)
		}
		pl.touch(f.Target, f.Partition)
		pl.put(f.Target, f.MirrorID, np.partition)
	}
	if len(moves) == 0 {
		return 0, nil, nil
	}
	now := time.Now().UTC()
	for np, rids := range moves {
		for part := range slices.Chunk(rids, chunk) {
			if err := tx.Model(&File{}).Where("target = ? AND record_entity = ? AND record_id IN ?", source, entity, part).
				Updates(map[string]any{"partition": np.partition, "problem": np.problem, "updated_at": now}).Error; err != nil {
				return 0, nil, fmt.Errorf("move files of %s/%s records: %w", source, entity, err)
			}
		}
	}
	return pl.apply(tx)
}
