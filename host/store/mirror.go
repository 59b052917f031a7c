package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// MirrorRecord is a record as the pull stage wants it mirrored: fields
// already projected and encoded, partition already computed.
type MirrorRecord struct {
	ID         string
	Version    string
	ModifiedAt *time.Time
	// Fields is the record's fields as a JSON object.
	Fields []byte
	// Hash is a digest of Fields.
	Hash string
	// Partition is the record's partition, "" for none.
	Partition string
}

// Batch is what one page of a pull does to an entity's mirror. ApplyBatch
// applies all of it, the entity state columns included, in one transaction.
type Batch struct {
	Source, Entity string
	// Put holds the records seen. A record whose version, partition and
	// hash equal the mirror's is unchanged: it gets no seq and no partition
	// item; only its pass is stamped. A repeated id keeps its last entry.
	Put []MirrorRecord
	// Remove lists ids to remove from the mirror (deleted in the back end or
	// no longer matching the filter); unknown ids are ignored. An id both in
	// Put and Remove is put.
	Remove []string
	// Pass is stamped on every record in Put.
	Pass int64
	// Reconcile, when set, also removes every record of the entity whose
	// pass is below Pass and whose seq is at most ReconcileMaxSeq: the end
	// of a full pass.
	Reconcile       bool
	ReconcileMaxSeq int64
	// State sets these entity_states columns (column name -> value) in the
	// same transaction: the cursor or progress marker the page produced.
	State map[string]any

	// history keeps the fields of versions the batch replaces (KeepHistory).
	history bool
}

// BatchResult says what a batch changed.
type BatchResult struct {
	// Changed counts records inserted or updated, Removed records removed
	// (Reconciled of them by reconciliation), Unchanged records seen as they
	// were.
	Changed, Removed, Reconciled, Unchanged int
	// LastSeq is the highest seq the batch used, 0 when it used none.
	LastSeq int64
	// Partitions lists the partitions that got new items, sorted.
	Partitions []string
}

// chunk bounds the ids and rows per statement: well under SQLite's 32766
// and PostgreSQL's 65535 bind parameters for 10-column rows.
const chunk = 500

type existing struct {
	ID        string
	Version   string
	Partition string
	Hash      string
	Pass      int64
}

// ApplyBatch applies b in one transaction. Seqs for its partition items are
// taken from the source's counter in the same transaction, so they become
// visible together with the items, in order.
func (s *Store) ApplyBatch(ctx context.Context, b Batch) (BatchResult, error) {
	var res BatchResult
	b.history = s.keepsHistory(b.Source, b.Entity)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		res, err = applyBatch(tx, b)
		return err
	})
	if err != nil {
		return BatchResult{}, fmt.Errorf("apply batch %s/%s: %w", b.Source, b.Entity, err)
	}
	s.analyzeAsItGrows(ctx, &s.mirrorGrowth, int64(len(b.Put)+len(b.Remove)), analyzeMirror)
	return res, nil
}

// firstAnalyze is the number of rows written after which PostgreSQL's
// statistics of a table are first refreshed.
const firstAnalyze = 2000

// analyzeGrowth says when a table's statistics are refreshed: each time
// the rows this process has written to it double, from firstAnalyze on. A
// table filled since the migration has none until autovacuum's first visit
// (and none at all where autovacuum is off), and the planner then takes
// it for empty. The doubling keeps the ANALYZE runs to a logarithm of the
// rows written.
type analyzeGrowth struct{ written, at atomic.Int64 }

// due counts n rows written and reports whether to analyze now.
func (g *analyzeGrowth) due(n int64) bool {
	total := g.written.Add(n)
	old := g.at.Load()
	next := old
	if next == 0 {
		next = firstAnalyze
	}
	return total >= next && g.at.CompareAndSwap(old, 2*total)
}

// The tables whose statistics follow what this process writes, with the
// columns the plans need (a record's or a mutation's fields are the costly
// ones to sample):
//   - the mirror: without statistics the planner reads the records of a
//     whole entity through idx_records_pass to find a page's 500 ids, and
//     a full pull slows down as the mirror grows;
//   - push_mutations: without them it finds an upload's mutation ids by
//     reading every mutation of the device through the dedupe index's
//     first column, and accepting a large offline backlog slows down batch
//     after batch.
const (
	analyzeMirror    = "ANALYZE records (source, entity, id, pass), partition_items"
	analyzeMutations = "ANALYZE push_mutations (source, device_id, mutation_id, entity, record_id, status, op_id, applied_seq)"
)

// analyzeAsItGrows counts n rows written to the tables stmt analyzes and,
// on PostgreSQL, refreshes their statistics when g says so.
func (s *Store) analyzeAsItGrows(ctx context.Context, g *analyzeGrowth, n int64, stmt string) {
	if s.kind != KindPostgres || n == 0 || !g.due(n) {
		return
	}
	if err := s.db.WithContext(ctx).Exec(stmt).Error; err != nil {
		s.log.Warn("refresh table statistics", "statement", stmt, "error", err)
	}
}

// plannedItem is a partition item to write once seqs are known.
type plannedItem struct {
	partition, id string
	removed       bool
	record        int // index into puts for a PUT, -1 for a tombstone
}

func applyBatch(tx *gorm.DB, b Batch) (BatchResult, error) {
	var res BatchResult
	now := time.Now().UTC()

	// Last entry of an id wins; Put wins over Remove.
	puts := make([]MirrorRecord, 0, len(b.Put))
	at := make(map[string]int, len(b.Put))
	for _, r := range b.Put {
		if i, ok := at[r.ID]; ok {
			puts[i] = r
			continue
		}
		at[r.ID] = len(puts)
		puts = append(puts, r)
	}
	var removes []string
	seenRemove := make(map[string]bool, len(b.Remove))
	for _, id := range b.Remove {
		if _, put := at[id]; !put && !seenRemove[id] {
			seenRemove[id] = true
			removes = append(removes, id)
		}
	}

	ids := make([]string, 0, len(puts)+len(removes))
	for _, r := range puts {
		ids = append(ids, r.ID)
	}
	ids = append(ids, removes...)
	old, err := loadExisting(tx, b.Source, b.Entity, ids)
	if err != nil {
		return res, err
	}

	var (
		items       []plannedItem
		deleteIDs   []string
		writes      []int // indexes into puts to upsert
		restamp     []string
		replaced    []string // records moving to another version or removed, for history
		recordDelta int64
	)
	for _, id := range removes {
		o, ok := old[id]
		if !ok {
			continue
		}
		deleteIDs = append(deleteIDs, id)
		if b.history {
			// A device's edit based on it may still come: merge and
			// re-create need its fields.
			replaced = append(replaced, id)
		}
		if o.Partition != "" {
			items = append(items, plannedItem{partition: o.Partition, id: id, removed: true, record: -1})
		}
	}
	for i, r := range puts {
		o, ok := old[r.ID]
		switch {
		case ok && o.Version == r.Version && o.Partition == r.Partition && o.Hash == r.Hash:
			if o.Pass != b.Pass {
				restamp = append(restamp, r.ID)
			}
			res.Unchanged++
			continue
		case ok && o.Partition != "" && o.Partition != r.Partition:
			items = append(items, plannedItem{partition: o.Partition, id: r.ID, removed: true, record: -1})
		case !ok:
			recordDelta++
		}
		if b.history && ok && o.Version != r.Version {
			replaced = append(replaced, r.ID)
		}
		writes = append(writes, i)
		items = append(items, plannedItem{partition: r.Partition, id: r.ID, record: i})
		res.Changed++
	}
	res.Removed = len(deleteIDs)
	recordDelta -= int64(len(deleteIDs))

	// Seqs: one per partition item, one per record written without an item
	// (a record in no partition still records when it last changed).
	need := int64(0)
	for _, it := range items {
		if it.partition != "" {
			need++
		}
	}
	seqOf := make([]int64, len(puts))
	var next int64
	if need > 0 {
		top, err := bumpSeq(tx, b.Source, need)
		if err != nil {
			return res, err
		}
		next = top - need + 1
		res.LastSeq = top
	}
	partitions := map[string]bool{}
	rows := make([]PartitionItem, 0, len(items))
	for _, it := range items {
		if it.partition == "" {
			continue
		}
		seq := next
		next++
		if it.record >= 0 {
			seqOf[it.record] = seq
		}
		partitions[it.partition] = true
		rows = append(rows, PartitionItem{Source: b.Source, Partition: it.partition, Entity: b.Entity,
			ID: it.id, Seq: seq, Removed: it.removed, UpdatedAt: now})
	}
	// A record in no partition gets the source's current seq: no device
	// will ever be sent it, so it needs no seq of its own.
	var current int64 = -1
	records := make([]Record, 0, len(writes))
	for _, i := range writes {
		r := puts[i]
		seq := seqOf[i]
		if r.Partition == "" {
			if current < 0 {
				if current, err = sourceSeq(tx, b.Source); err != nil {
					return res, err
				}
			}
			seq = current
		}
		fields := r.Fields
		if fields == nil {
			fields = []byte("{}")
		}
		records = append(records, Record{Source: b.Source, Entity: b.Entity, ID: r.ID, Version: r.Version,
			ModifiedAt: r.ModifiedAt, Fields: fields, Hash: r.Hash, Partition: r.Partition, Seq: seq, Pass: b.Pass})
	}

	if len(replaced) > 0 {
		if err := saveHistory(tx, b, replaced, now); err != nil {
			return res, err
		}
	}
	if err := deleteRecords(tx, b.Source, b.Entity, deleteIDs); err != nil {
		return res, err
	}
	if err := upsertRecords(tx, records); err != nil {
		return res, err
	}
	if err := upsertItems(tx, rows); err != nil {
		return res, err
	}
	// Files follow their records' partitions (files_place.go).
	follow := slices.Clone(deleteIDs)
	for _, i := range writes {
		if o, ok := old[puts[i].ID]; !ok || o.Partition != puts[i].Partition {
			follow = append(follow, puts[i].ID)
		}
	}
	fseq, fparts, err := followRecords(tx, b.Source, b.Entity, follow)
	if err != nil {
		return res, err
	}
	res.LastSeq = max(res.LastSeq, fseq)
	for _, p := range fparts {
		partitions[p] = true
	}
	for part := range slices.Chunk(restamp, chunk) {
		if err := tx.Model(&Record{}).Where("source = ? AND entity = ? AND id IN ?", b.Source, b.Entity, part).
			Update("pass", b.Pass).Error; err != nil {
			return res, fmt.Errorf("stamp pass: %w", err)
		}
	}

	if b.Reconcile {
		n, last, parts, err := reconcile(tx, b, now)
		if err != nil {
			return res, err
		}
		res.Removed += n
		res.Reconciled = n
		recordDelta -= int64(n)
		if last > 0 {
			res.LastSeq = last
		}
		for _, p := range parts {
			partitions[p] = true
		}
	}

	updates := map[string]any{"updated_at": now}
	for k, v := range b.State {
		updates[k] = v
	}
	if recordDelta != 0 {
		updates["records"] = gorm.Expr("records + ?", recordDelta)
	}
	q := tx.Model(&EntityState{}).Where("source = ? AND entity = ?", b.Source, b.Entity).Updates(updates)
	if q.Error != nil {
		return res, fmt.Errorf("update entity state: %w", q.Error)
	}
	if q.RowsAffected == 0 {
		return res, fmt.Errorf("update entity state: %w (EnsureEntityState first)", ErrNotFound)
	}
	for p := range partitions {
		res.Partitions = append(res.Partitions, p)
	}
	slices.Sort(res.Partitions)
	return res, nil
}

// reconcile removes the records a full pass did not see, in chunks, inside
// the batch's transaction.
func reconcile(tx *gorm.DB, b Batch, now time.Time) (n int, last int64, parts []string, err error) {
	seen := map[string]bool{}
	for {
		var stale []existing
		if err := tx.Model(&Record{}).Select("id", "partition").
			Where("source = ? AND entity = ? AND pass < ? AND seq <= ?", b.Source, b.Entity, b.Pass, b.ReconcileMaxSeq).
			Order("id").Limit(chunk).Find(&stale).Error; err != nil {
			return 0, 0, nil, fmt.Errorf("reconcile: %w", err)
		}
		if len(stale) == 0 {
			return n, last, parts, nil
		}
		ids := make([]string, len(stale))
		var tomb []existing
		for i, r := range stale {
			ids[i] = r.ID
			if r.Partition != "" {
				tomb = append(tomb, r)
			}
		}
		if len(tomb) > 0 {
			top, err := bumpSeq(tx, b.Source, int64(len(tomb)))
			if err != nil {
				return 0, 0, nil, err
			}
			seq := top - int64(len(tomb)) + 1
			rows := make([]PartitionItem, len(tomb))
			for i, r := range tomb {
				rows[i] = PartitionItem{Source: b.Source, Partition: r.Partition, Entity: b.Entity, ID: r.ID,
					Seq: seq + int64(i), Removed: true, UpdatedAt: now}
				if !seen[r.Partition] {
					seen[r.Partition] = true
					parts = append(parts, r.Partition)
				}
			}
			if err := upsertItems(tx, rows); err != nil {
				return 0, 0, nil, err
			}
			last = top
		}
		if err := deleteRecords(tx, b.Source, b.Entity, ids); err != nil {
			return 0, 0, nil, err
		}
		fseq, fparts, err := followRecords(tx, b.Source, b.Entity, ids)
		if err != nil {
			return 0, 0, nil, err
		}
		last = max(last, fseq)
		parts = append(parts, fparts...)
		n += len(stale)
	}
}

func loadExisting(tx *gorm.DB, source, entity string, ids []string) (map[string]existing, error) {
	out := make(map[string]existing, len(ids))
	for part := range slices.Chunk(ids, chunk) {
		q := newPlain(tx).sql(`SELECT id, version, "partition", hash, pass FROM records WHERE source = `).arg(source).
			sql(" AND entity = ").arg(entity).sql(" AND ").in("id", part)
		err := q.each(tx, func(rows *sql.Rows) error {
			var r existing
			err := rows.Scan(&r.ID, &r.Version, &r.Partition, &r.Hash, &r.Pass)
			out[r.ID] = r
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("load existing records: %w", err)
		}
	}
	return out, nil
}

// bumpSeq takes n seqs from the source's counter and returns the highest.
func bumpSeq(tx *gorm.DB, source string, n int64) (int64, error) {
	var top []int64
	if err := tx.Raw("UPDATE sources SET seq = seq + ? WHERE name = ? RETURNING seq", n, source).Scan(&top).Error; err != nil {
		return 0, fmt.Errorf("take seqs: %w", err)
	}
	if len(top) != 1 {
		return 0, fmt.Errorf("take seqs: source %q: %w", source, ErrNotFound)
	}
	return top[0], nil
}

func sourceSeq(tx *gorm.DB, source string) (int64, error) {
	var seq []int64
	if err := tx.Model(&Source{}).Where("name = ?", source).Pluck("seq", &seq).Error; err != nil {
		return 0, fmt.Errorf("read source seq: %w", err)
	}
	if len(seq) == 0 {
		return 0, nil
	}
	return seq[0], nil
}

func deleteRecords(tx *gorm.DB, source, entity string, ids []string) error {
	for part := range slices.Chunk(ids, chunk) {
		if err := tx.Where("source = ? AND entity = ? AND id IN ?", source, entity, part).Delete(&Record{}).Error; err != nil {
			return fmt.Errorf("delete records: %w", err)
		}
	}
	return nil
}

func upsertRecords(tx *gorm.DB, rows []Record) error {
	if len(rows) == 0 {
		return nil
	}
	if tx.Dialector.Name() == KindPostgres {
		return upsertRecordsPG(tx, rows)
	}
	for part := range slices.Chunk(rows, chunk/2) {
		q := newPlain(tx).sql(insertRecords + " VALUES ")
		for _, r := range part {
			q.row(r.Source, r.Entity, r.ID, r.Version, r.ModifiedAt, r.Fields, r.Hash, r.Partition, r.Seq, r.Pass)
		}
		if _, err := q.sql(recordsConflict).exec(tx); err != nil {
			return fmt.Errorf("upsert records: %w", err)
		}
	}
	return nil
}

// The upserts of records and partition items: SQLite's take a VALUES
// list, PostgreSQL's one array per column.
const (
	insertRecords   = `INSERT INTO records (source, entity, id, version, modified_at, fields, hash, "partition", seq, pass)`
	recordsConflict = ` ON CONFLICT (source, entity, id) DO UPDATE SET version = excluded.version, modified_at = excluded.modified_at,
fields = excluded.fields, hash = excluded.hash, "partition" = excluded."partition", seq = excluded.seq, pass = excluded.pass`
	upsertRecordsSQL = insertRecords + `
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bytea[], $7::text[], $8::text[], $9::bigint[], $10::bigint[])` +
		recordsConflict
	insertItems   = `INSERT INTO partition_items (source, "partition", entity, id, seq, removed, updated_at)`
	itemsConflict = ` ON CONFLICT (source, "partition", entity, id) DO UPDATE SET seq = excluded.seq, removed = excluded.removed,
updated_at = excluded.updated_at`
	upsertItemsSQL = insertItems + `
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[], $7::timestamptz[])` +
		itemsConflict
)

// execArrays runs a statement whose parameters are arrays as a plain
// statement (gorm would expand a slice into a list).
func execArrays(tx *gorm.DB, sql string, args ...any) error {
	p := newPlain(tx).sql(sql)
	p.args = args
	_, err := p.exec(tx)
	return err
}

// upsertRecordsPG is upsertRecords on PostgreSQL: one statement per chunk
// whose rows come as one array per column (unnest), so the statement is
// the same whatever the number of rows (prepared once per connection) and
// carries ten parameters instead of ten per row. The arrays go to the
// driver as they are (gorm would expand a slice into a list).
func upsertRecordsPG(tx *gorm.DB, rows []Record) error {
	for part := range slices.Chunk(rows, 4*chunk) {
		n := len(part)
		var (
			sources, entities, ids  = make([]string, n), make([]string, n), make([]string, n)
			versions, hashes, parts = make([]string, n), make([]string, n), make([]string, n)
			modified                = make([]*time.Time, n)
			fields                  = make([][]byte, n)
			seqs, passes            = make([]int64, n), make([]int64, n)
		)
		for i, r := range part {
			sources[i], entities[i], ids[i], versions[i] = r.Source, r.Entity, r.ID, r.Version
			modified[i], fields[i], hashes[i], parts[i], seqs[i], passes[i] = r.ModifiedAt, r.Fields, r.Hash, r.Partition, r.Seq, r.Pass
		}
		err := execArrays(tx, upsertRecordsSQL, sources, entities, ids, versions, modified, fields, hashes, parts, seqs, passes)
		if err != nil {
			return fmt.Errorf("upsert records: %w", err)
		}
	}
	return nil
}

func upsertItems(tx *gorm.DB, rows []PartitionItem) error {
	if len(rows) == 0 {
		return nil
	}
	if tx.Dialector.Name() == KindPostgres {
		return upsertItemsPG(tx, rows)
	}
	for part := range slices.Chunk(rows, chunk) {
		q := newPlain(tx).sql(insertItems + " VALUES ")
		for _, r := range part {
			q.row(r.Source, r.Partition, r.Entity, r.ID, r.Seq, r.Removed, r.UpdatedAt)
		}
		if _, err := q.sql(itemsConflict).exec(tx); err != nil {
			return fmt.Errorf("upsert partition items: %w", err)
		}
	}
	return nil
}

// upsertItemsPG is upsertItems on PostgreSQL, one array per column (see
// upsertRecordsPG).
func upsertItemsPG(tx *gorm.DB, rows []PartitionItem) error {
	for part := range slices.Chunk(rows, 4*chunk) {
		n := len(part)
		var (
			sources, parts, entities, ids = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			seqs                          = make([]int64, n)
			removed                       = make([]bool, n)
			updated                       = make([]time.Time, n)
		)
		for i, r := range part {
			sources[i], parts[i], entities[i], ids[i] = r.Source, r.Partition, r.Entity, r.ID
			seqs[i], removed[i], updated[i] = r.Seq, r.Removed, r.UpdatedAt
		}
		err := execArrays(tx, upsertItemsSQL, sources, parts, entities, ids, seqs, removed, updated)
		if err != nil {
			return fmt.Errorf("upsert partition items: %w", err)
		}
	}
	return nil
}
