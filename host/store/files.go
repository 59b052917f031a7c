package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// FileEntity is the pseudo-entity under which file metadata travels in a
// source's feed: one record per file, in its record's partition (see
// File).
const FileEntity = "_file"

// File modes and statuses (File.Mode, File.Status, File.RuleMode,
// File.RuleStatus).
const (
	FileEager    = "eager"
	FileOnDemand = "on_demand"

	FileOK            = "ok"
	FileFiltered      = "filtered"       // the entity's suffixes do not match
	FileTooLarge      = "too_large"      // larger than the entity's max_size
	FileQuotaExceeded = "quota_exceeded" // would take a device over its quota
)

// File problems (File.Problem): why a file reaches no device.
const (
	// ProblemMissingRecord: the file's record is not in its feed source's
	// mirror (it does not exist there, was deleted, or is filtered out).
	ProblemMissingRecord = "missing_record"
	// ProblemUnknownEntity: the feed source has no such entity.
	ProblemUnknownEntity = "unknown_entity"
)

// File is one file a source lists. It is mirrored for devices as a record
// of FileEntity in Target's feed (the attach_to source of a document store,
// else Source itself), with id MirrorID and the partition of its record, so
// it reaches exactly the devices that see the record.
//
// Mode and Status are what devices are told: RuleMode and RuleStatus as
// the entity's blob filter decides them, then the partition's quota
// (Quota bytes, 0 for none) spread over the eager files newest first
// (see place).
type File struct {
	Source       string `gorm:"primaryKey;size:200;index:idx_files_pass,priority:1"`
	FileID       string `gorm:"primaryKey;size:1024"`
	MirrorID     string `gorm:"size:200;not null;uniqueIndex"`
	Target       string `gorm:"size:200;not null;index:idx_files_record,priority:1;index:idx_files_place,priority:1"`
	RecordEntity string `gorm:"size:200;not null;index:idx_files_record,priority:2"`
	RecordID     string `gorm:"size:200;not null;index:idx_files_record,priority:3"`
	RecordName   string `gorm:"size:400;not null;default:''"`
	// Partition is the record's partition in Target, "" when the record is
	// in none or missing (Problem says which).
	Partition  string `gorm:"size:400;not null;default:'';index:idx_files_place,priority:2"`
	Name       string `gorm:"size:1024;not null;default:''"`
	Path       string `gorm:"type:text;not null;default:''"`
	Size       int64  `gorm:"not null;default:0"`
	MimeType   string `gorm:"size:200;not null;default:''"`
	ModifiedAt *time.Time
	Hash       string `gorm:"size:200;not null;default:''"`
	Version    string `gorm:"size:200;not null;default:''"`
	RuleMode   string `gorm:"size:20;not null;default:'on_demand'"`
	RuleStatus string `gorm:"size:20;not null;default:'ok'"`
	Quota      int64  `gorm:"not null;default:0"`
	Mode       string `gorm:"size:20;not null;default:'on_demand'"`
	Status     string `gorm:"size:20;not null;default:'ok'"`
	Problem    string `gorm:"size:40;not null;default:''"`
	// Pass is the full listing that last saw the file (reconciliation).
	Pass      int64 `gorm:"not null;default:0;index:idx_files_pass,priority:2"`
	UpdatedAt time.Time
}

// FileSource is the listing state of a source that lists files.
type FileSource struct {
	Source string `gorm:"primaryKey;size:200"`
	// Cursor is the incremental cursor ("" = the next listing is full).
	Cursor string `gorm:"type:text;not null;default:''"`
	// ResumeCursor is where an interrupted full listing resumes.
	ResumeCursor string `gorm:"type:text;not null;default:''"`
	FullRunning  bool   `gorm:"not null;default:false"`
	FullPass     int64  `gorm:"not null;default:0"`
	// RulesHash is the hash of the blob filters the files were evaluated
	// with; a change makes the next listing full.
	RulesHash        string `gorm:"size:100;not null;default:''"`
	LastListStarted  *time.Time
	LastListFinished *time.Time
	LastSuccess      *time.Time
	LastFull         *time.Time
	LastError        string `gorm:"type:text;not null;default:''"`
	UpdatedAt        time.Time
}

// FileOrphan is a path a listing reported outside the connector's record
// convention (sdk.FilePage.Orphans). PathKey is the lower-cased path, the
// way document stores compare paths.
type FileOrphan struct {
	Source  string    `gorm:"primaryKey;size:200"`
	PathKey string    `gorm:"primaryKey;size:1024"`
	Path    string    `gorm:"type:text;not null"`
	Pass    int64     `gorm:"not null;default:0"`
	SeenAt  time.Time `gorm:"not null"`
}

// File source state columns, for FileChanges.State.
const (
	ColFileCursor       = "cursor"
	ColFileResumeCursor = "resume_cursor"
	ColFileFullRunning  = "full_running"
	ColFileLastFull     = "last_full"
)

// FileMirrorID is the id of a file's FileEntity record: the listing source
// and a digest of the connector's file id, so it is stable, unique across
// sources and safe in a URL whatever the file id holds (paths, slashes).
func FileMirrorID(source, fileID string) string {
	sum := sha256.Sum256([]byte(fileID))
	return source + ":" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// FileChanges is what one listing page (or one upload, or one lost file)
// does to a source's files. ApplyFiles applies all of it in one
// transaction, the FileEntity records included.
type FileChanges struct {
	// Source is the listing source; Target the feed source its files go to.
	Source, Target string
	// Files are upserted. MirrorID, Partition, Problem (unless it is
	// ProblemUnknownEntity), Mode, Status and Pass are set by ApplyFiles.
	Files []File
	// Deleted removes each id and every file whose id starts with it plus
	// "/" (a document store's folder), and orphans the same way.
	Deleted []string
	// Gone removes exactly these file ids.
	Gone []string
	// Orphans are paths outside the record convention, to report.
	Orphans []string
	// Pass is stamped on Files and Orphans; 0 stamps the source's current
	// full pass (an upload's file is then spared by a running pass).
	Pass int64
	// Reconcile also removes the source's files and orphans whose pass is
	// below Pass: the end of a full listing.
	Reconcile bool
	// State sets file_sources columns in the same transaction.
	State map[string]any
	// CompletesUpload names an upload to mark done with this change's only
	// file, in the same transaction ("" for none).
	CompletesUpload string
}

// FileResult says what ApplyFiles changed.
type FileResult struct {
	// Upserted and Removed count files.
	Upserted, Removed int
	// LastSeq is the highest seq used in Target, 0 when none.
	LastSeq int64
	// Partitions lists the partitions that got new items, sorted.
	Partitions []string
}

// ApplyFiles applies c in one transaction. It first locks Target's seq
// counter, which every mirror write that moves a record takes too, so a
// record's partition read here cannot change before this commits, and a
// record written meanwhile sees these files (see followRecords).
func (s *Store) ApplyFiles(ctx context.Context, c FileChanges) (FileResult, error) {
	var res FileResult
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		res, err = applyFiles(tx, c)
		return err
	})
	if err != nil {
		return FileResult{}, fmt.Errorf("apply files of %s: %w", c.Source, err)
	}
	return res, nil
}

func applyFiles(tx *gorm.DB, c FileChanges) (FileResult, error) {
	var res FileResult
	now := time.Now().UTC()
	if err := ensureFileTarget(tx, c.Target); err != nil {
		return res, err
	}
	if err := tx.Exec("UPDATE sources SET seq = seq WHERE name = ?", c.Target).Error; err != nil {
		return res, fmt.Errorf("lock source %s: %w", c.Target, err)
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&FileSource{Source: c.Source}).Error; err != nil {
		return res, fmt.Errorf("ensure file source %s: %w", c.Source, err)
	}
	pass := c.Pass
	if pass == 0 {
		var p []int64
		if err := tx.Model(&FileSource{}).Where("source = ?", c.Source).Pluck("full_pass", &p).Error; err != nil {
			return res, fmt.Errorf("read file source %s: %w", c.Source, err)
		}
		if len(p) == 1 {
			pass = p[0]
		}
	}
	pl := newPlacement()

	// Deletions first: a page may delete a folder and add a file to it.
	for _, id := range c.Deleted {
		n, err := removeFiles(tx, pl, c.Source, "(file_id = ? OR substr(file_id, 1, length(?) + 1) = ? || '/')", id, id, id)
		if err != nil {
			return res, err
		}
		res.Removed += n
		key := strings.ToLower(id)
		if err := tx.Where("source = ? AND (path_key = ? OR substr(path_key, 1, length(?) + 1) = ? || '/')", c.Source, key, key, key).
			Delete(&FileOrphan{}).Error; err != nil {
			return res, fmt.Errorf("delete orphans: %w", err)
		}
	}
	for part := range slices.Chunk(c.Gone, chunk) {
		n, err := removeFiles(tx, pl, c.Source, "file_id IN ?", part)
		if err != nil {
			return res, err
		}
		res.Removed += n
	}

	n, err := upsertFiles(tx, pl, c, pass, now)
	if err != nil {
		return res, err
	}
	res.Upserted = n
	if err := upsertOrphans(tx, c, pass, now); err != nil {
		return res, err
	}

	if c.Reconcile {
		n, err := removeFiles(tx, pl, c.Source, "pass < ?", pass)
		if err != nil {
			return res, err
		}
		res.Removed += n
		if err := tx.Where("source = ? AND pass < ?", c.Source, pass).Delete(&FileOrphan{}).Error; err != nil {
			return res, fmt.Errorf("reconcile orphans: %w", err)
		}
	}

	res.LastSeq, res.Partitions, err = pl.apply(tx)
	if err != nil {
		return res, err
	}

	if c.CompletesUpload != "" && len(c.Files) == 1 {
		f := c.Files[0]
		if err := tx.Model(&FileUpload{}).Where("id = ?", c.CompletesUpload).Updates(map[string]any{
			"status": UploadDone, "file_id": f.FileID, "file_mirror_id": FileMirrorID(c.Source, f.FileID),
			"last_error": "", "done_at": now, "updated_at": now,
		}).Error; err != nil {
			return res, fmt.Errorf("mark upload %s done: %w", c.CompletesUpload, err)
		}
	}
	if len(c.State) > 0 {
		cols := map[string]any{"updated_at": now}
		for k, v := range c.State {
			cols[k] = v
		}
		if err := tx.Model(&FileSource{}).Where("source = ?", c.Source).Updates(cols).Error; err != nil {
			return res, fmt.Errorf("update file source %s: %w", c.Source, err)
		}
	}
	return res, nil
}

// ensureFileTarget creates the feed source's row and its FileEntity state
// row, which ApplyBatch needs.
func ensureFileTarget(tx *gorm.DB, target string) error {
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Source{Name: target}).Error; err != nil {
		return fmt.Errorf("ensure source %s: %w", target, err)
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&EntityState{Source: target, Entity: FileEntity}).Error; err != nil {
		return fmt.Errorf("ensure entity state %s/%s: %w", target, FileEntity, err)
	}
	return nil
}

// removeFiles deletes the source's files matching cond, in chunks, and
// hands their FileEntity records to pl for removal.
func removeFiles(tx *gorm.DB, pl *placement, source, cond string, args ...any) (int, error) {
	total := 0
	for {
		var rows []File
		if err := tx.Select("source", "file_id", "mirror_id", "target", "partition").
			Where("source = ?", source).Where(cond, args...).Limit(chunk).Find(&rows).Error; err != nil {
			return total, fmt.Errorf("find files to remove: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.FileID
			pl.remove(r.Target, r.MirrorID, r.Partition)
		}
		if err := tx.Where("source = ? AND file_id IN ?", source, ids).Delete(&File{}).Error; err != nil {
			return total, fmt.Errorf("remove files: %w", err)
		}
		total += len(rows)
		if len(rows) < chunk {
			return total, nil
		}
	}
}

// upsertFiles writes c.Files with their records' partitions and hands them
// to pl.
func upsertFiles(tx *gorm.DB, pl *placement, c FileChanges, pass int64, now time.Time) (int, error) {
	if len(c.Files) == 0 {
		return 0, nil
	}
	rows := make([]File, 0, len(c.Files))
	at := make(map[string]int, len(c.Files))
	for _, f := range c.Files {
		if i, ok := at[f.FileID]; ok {
			rows[i] = f
			continue
		}
		at[f.FileID] = len(rows)
		rows = append(rows, f)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.FileID
	}
	old := map[string]File{}
	for part := range slices.Chunk(ids, chunk) {
		var found []File
		if err := tx.Select("file_id", "mirror_id", "target", "partition").
			Where("source = ? AND file_id IN ?", c.Source, part).Find(&found).Error; err != nil {
			return 0, fmt.Errorf("load files: %w", err)
		}
		for _, f := range found {
			old[f.FileID] = f
		}
	}
	// Partitions of the records, per entity.
	want := map[string][]string{}
	for _, r := range rows {
		if r.Problem != ProblemUnknownEntity {
			want[r.RecordEntity] = append(want[r.RecordEntity], r.RecordID)
		}
	}
	parts := map[string]map[string]string{}
	for entity, rids := range want {
		p, err := recordPartitions(tx, c.Target, entity, rids)
		if err != nil {
			return 0, err
		}
		parts[entity] = p
	}
	for i := range rows {
		r := &rows[i]
		r.Source, r.Target = c.Source, c.Target
		r.MirrorID = FileMirrorID(c.Source, r.FileID)
		r.Pass, r.UpdatedAt = pass, now
		r.Partition = ""
		if r.Problem != ProblemUnknownEntity {
			r.Problem = ProblemMissingRecord
			if p, ok := parts[r.RecordEntity][r.RecordID]; ok {
				r.Partition, r.Problem = p, ""
			}
		}
		if r.RuleMode == "" {
			r.RuleMode, r.RuleStatus = FileOnDemand, FileOK
		}
		r.Mode, r.Status = r.RuleMode, r.RuleStatus
		if o, ok := old[r.FileID]; ok && (o.Target != r.Target || o.Partition != r.Partition) {
			if o.Target != r.Target {
				pl.remove(o.Target, o.MirrorID, o.Partition)
			} else {
				pl.touch(o.Target, o.Partition)
			}
		}
		pl.put(r.Target, r.MirrorID, r.Partition)
	}
	err := tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "source"}, {Name: "file_id"}},
		// Mode and status stay: place compares them with what it computes.
		DoUpdates: clause.AssignmentColumns([]string{"mirror_id", "target", "record_entity", "record_id", "record_name",
			"partition", "name", "path", "size", "mime_type", "modified_at", "hash", "version", "rule_mode",
			"rule_status", "quota", "problem", "pass", "updated_at"}),
	}).CreateInBatches(&rows, chunk/5).Error
	if err != nil {
		return 0, fmt.Errorf("upsert files: %w", err)
	}
	return len(rows), nil
}

// recordPartitions returns the partition of each of the ids that exist in
// the source's mirror of entity.
func recordPartitions(tx *gorm.DB, source, entity string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for part := range slices.Chunk(ids, chunk) {
		var rows []existing
		if err := tx.Model(&Record{}).Select("id", "partition").
			Where("source = ? AND entity = ? AND id IN ?", source, entity, part).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("partitions of %s/%s records: %w", source, entity, err)
		}
		for _, r := range rows {
			out[r.ID] = r.Partition
		}
	}
	return out, nil
}

func upsertOrphans(tx *gorm.DB, c FileChanges, pass int64, now time.Time) error {
	if len(c.Orphans) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var rows []FileOrphan
	for _, p := range c.Orphans {
		key := strings.ToLower(p)
		if r := []rune(key); len(r) > 1000 {
			key = string(r[:1000]) // the column's bound; such paths are rare
		}
		if p == "" || seen[key] {
			continue
		}
		seen[key] = true
		rows = append(rows, FileOrphan{Source: c.Source, PathKey: key, Path: p, Pass: pass, SeenAt: now})
	}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "source"}, {Name: "path_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"path", "pass", "seen_at"}),
	}).CreateInBatches(&rows, chunk).Error
	if err != nil {
		return fmt.Errorf("upsert orphans: %w", err)
	}
	return nil
}

// EnsureFileSource creates the source's listing state when missing and
// returns it.
func (s *Store) EnsureFileSource(ctx context.Context, source string) (FileSource, error) {
	db := s.db.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&FileSource{Source: source}).Error; err != nil {
		return FileSource{}, fmt.Errorf("ensure file source %s: %w", source, err)
	}
	var st FileSource
	if err := db.Where("source = ?", source).Take(&st).Error; err != nil {
		return FileSource{}, fmt.Errorf("read file source %s: %w", source, err)
	}
	return st, nil
}

// FileSourceState returns a source's listing state (zero but Source when
// it never listed).
func (s *Store) FileSourceState(ctx context.Context, source string) (FileSource, error) {
	var out []FileSource
	if err := s.rdb.WithContext(ctx).Where("source = ?", source).Limit(1).Find(&out).Error; err != nil {
		return FileSource{}, fmt.Errorf("read file source %s: %w", source, err)
	}
	if len(out) == 0 {
		return FileSource{Source: source}, nil
	}
	return out[0], nil
}

// StartFileListing begins a full listing of the source: it numbers the
// pass, clears the resume point and records the rules hash.
func (s *Store) StartFileListing(ctx context.Context, source, rulesHash string) (FileSource, error) {
	if _, err := s.EnsureFileSource(ctx, source); err != nil {
		return FileSource{}, err
	}
	var st FileSource
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&FileSource{}).Where("source = ?", source).Updates(map[string]any{
			"full_pass": gorm.Expr("full_pass + 1"), "full_running": true, "resume_cursor": "",
			"rules_hash": rulesHash, "updated_at": time.Now().UTC(),
		}).Error; err != nil {
			return err
		}
		return tx.Where("source = ?", source).Take(&st).Error
	})
	if err != nil {
		return FileSource{}, fmt.Errorf("start file listing of %s: %w", source, err)
	}
	return st, nil
}

// UpdateFileSource sets columns of a source's listing state.
func (s *Store) UpdateFileSource(ctx context.Context, source string, cols map[string]any) error {
	updates := map[string]any{"updated_at": time.Now().UTC()}
	for k, v := range cols {
		updates[k] = v
	}
	if err := s.db.WithContext(ctx).Model(&FileSource{}).Where("source = ?", source).Updates(updates).Error; err != nil {
		return fmt.Errorf("update file source %s: %w", source, err)
	}
	return nil
}

// FileByMirrorID returns the file whose FileEntity record has id, or
// ErrNotFound.
func (s *Store) FileByMirrorID(ctx context.Context, id string) (File, error) {
	var out []File
	if err := s.rdb.WithContext(ctx).Where("mirror_id = ?", id).Limit(1).Find(&out).Error; err != nil {
		return File{}, fmt.Errorf("file %s: %w", id, err)
	}
	if len(out) == 0 {
		return File{}, fmt.Errorf("file %s: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// FilesOfRecord returns the files listed by source for a record of target.
func (s *Store) FilesOfRecord(ctx context.Context, source, target, entity, id string) ([]File, error) {
	var out []File
	if err := s.rdb.WithContext(ctx).Where("source = ? AND target = ? AND record_entity = ? AND record_id = ?",
		source, target, entity, id).Order("file_id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("files of %s/%s/%s: %w", target, entity, id, err)
	}
	return out, nil
}

// CountFiles counts the files a source lists.
func (s *Store) CountFiles(ctx context.Context, source string) (int64, error) {
	var n int64
	if err := s.rdb.WithContext(ctx).Model(&File{}).Where("source = ?", source).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count files of %s: %w", source, err)
	}
	return n, nil
}

// FileProblems returns up to limit of the source's orphans (by path) and
// of its files that reach no device because of a problem (by file id).
func (s *Store) FileProblems(ctx context.Context, source string, limit int) ([]FileOrphan, []File, error) {
	db := s.rdb.WithContext(ctx)
	var orphans []FileOrphan
	if err := db.Where("source = ?", source).Order("path_key").Limit(limit).Find(&orphans).Error; err != nil {
		return nil, nil, fmt.Errorf("orphans of %s: %w", source, err)
	}
	var files []File
	if err := db.Where("source = ? AND problem <> ?", source, "").Order("file_id").Limit(limit).Find(&files).Error; err != nil {
		return nil, nil, fmt.Errorf("file problems of %s: %w", source, err)
	}
	return orphans, files, nil
}
