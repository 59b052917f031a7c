package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ChangeOp is one op of a device's download: a PUT of a record's current
// fields, or a REMOVE (Removed set; no version or fields).
type ChangeOp struct {
	Seq                   int64
	Partition, Entity, ID string
	Removed               bool
	Version               string
	ModifiedAt            *time.Time
	Fields                json.RawMessage
}

// maxChangePartitions bounds the partitions one Changes call reads: each is
// a branch of a compound SELECT, and SQLite allows 500.
const maxChangePartitions = 450

// ErrTooManyPartitions is returned by Changes for more partitions than one
// query may read.
var ErrTooManyPartitions = errors.New("too many partitions in one query")

// Changes streams the partition items of source whose seq is above
// since[partition], in seq order, at most limit of them, through fn: rows
// are read one at a time, never the whole set. For a partition whose since
// is 0 (a full sync) REMOVE tombstones are skipped. It returns the seq of
// the last op delivered (0 when none) and whether more remain.
//
// Each partition is one branch of a UNION ALL reading the index
// (source, partition, seq) from since upwards, at most limit+1 rows; the
// branches are merged by seq and joined to records for the fields. A seq
// names exactly one op, so the order is total.
//
// fn runs while the rows are open: it must not use the Store's write side
// on SQLite's :memory: database (one connection). Returning an error from
// fn stops the stream and Changes returns it.
func (s *Store) Changes(ctx context.Context, source string, since map[string]int64, limit int, fn func(ChangeOp) error) (last int64, more bool, err error) {
	if limit <= 0 || len(since) == 0 {
		return 0, false, nil
	}
	if len(since) > maxChangePartitions {
		return 0, false, fmt.Errorf("changes of %s: %d partitions: %w (at most %d)", source, len(since), ErrTooManyPartitions, maxChangePartitions)
	}
	query, args := ChangesQuery(source, since, limit)
	rows, err := s.rdb.WithContext(ctx).Raw(query, args...).Rows()
	if err != nil {
		return 0, false, fmt.Errorf("changes of %s: %w", source, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			op       ChangeOp
			removed  bool
			version  sql.NullString
			modified sql.NullTime
			fields   []byte
		)
		if err := rows.Scan(&op.Seq, &op.Partition, &op.Entity, &op.ID, &removed, &version, &modified, &fields); err != nil {
			return last, false, fmt.Errorf("changes of %s: %w", source, err)
		}
		if n == limit {
			more = true
			break
		}
		op.Removed = removed || fields == nil // a PUT whose record vanished cannot happen in one snapshot
		if !op.Removed {
			op.Version = version.String
			if modified.Valid {
				t := modified.Time.UTC()
				op.ModifiedAt = &t
			}
			op.Fields = fields
		}
		if err := fn(op); err != nil {
			return last, false, err
		}
		last = op.Seq
		n++
	}
	if err := rows.Err(); err != nil {
		return last, false, fmt.Errorf("changes of %s: %w", source, err)
	}
	return last, more, nil
}

// ChangesQuery returns the SQL and arguments Changes runs, for EXPLAIN in
// tests and for debugging. Partitions are sorted so equal requests give
// equal SQL.
func ChangesQuery(source string, since map[string]int64, limit int) (string, []any) {
	parts := make([]string, 0, len(since))
	for p := range since {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var b strings.Builder
	args := make([]any, 0, 4*len(parts)+2)
	b.WriteString(`SELECT i.seq, i."partition", i.entity, i.id, i.removed, r.version, r.modified_at, r.fields FROM (`)
	for n, p := range parts {
		if n > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, `SELECT * FROM (SELECT seq, "partition", entity, id, removed FROM partition_items`+
			` WHERE source = ? AND "partition" = ? AND seq > ?`)
		args = append(args, source, p, since[p])
		if since[p] <= 0 {
			b.WriteString(" AND removed = ?")
			args = append(args, false)
		}
		fmt.Fprintf(&b, ` ORDER BY seq LIMIT %d) b%d`, limit+1, n)
	}
	fmt.Fprintf(&b, `) i LEFT JOIN records r ON r.source = ? AND r.entity = i.entity AND r.id = i.id AND i.removed = ?`+
		` ORDER BY i.seq LIMIT %d`, limit+1)
	args = append(args, source, false)
	return b.String(), args
}

// SourceSeq returns the source's last seq (0 for a source never pulled).
func (s *Store) SourceSeq(ctx context.Context, source string) (int64, error) {
	seq, err := sourceSeq(s.rdb.WithContext(ctx), source)
	if err != nil {
		return 0, fmt.Errorf("seq of %s: %w", source, err)
	}
	return seq, nil
}

// PartitionFloors returns, per partition asked for, the highest seq of a
// tombstone retention has deleted (0 when none): a device whose checkpoint
// for the partition is below it has missed a REMOVE and must resync it.
func (s *Store) PartitionFloors(ctx context.Context, source string, partitions []string) (map[string]int64, error) {
	out := make(map[string]int64, len(partitions))
	for _, p := range partitions {
		out[p] = 0
	}
	for part := range slices.Chunk(partitions, chunk) {
		var rows []PartitionFloor
		if err := s.rdb.WithContext(ctx).Where(`source = ? AND "partition" IN ?`, source, part).
			Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("partition floors of %s: %w", source, err)
		}
		for _, r := range rows {
			out[r.Partition] = r.Seq
		}
	}
	return out, nil
}

// ExpireTombstones deletes the REMOVE tombstones of source last written
// before cutoff and raises each affected partition's floor to the highest
// seq deleted, in one transaction. It returns how many it deleted.
func (s *Store) ExpireTombstones(ctx context.Context, source string, cutoff time.Time) (int64, error) {
	cutoff = cutoff.UTC()
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO partition_floors (source, "partition", seq)`+
			` SELECT source, "partition", MAX(seq) FROM partition_items`+
			` WHERE source = ? AND removed = ? AND updated_at < ? GROUP BY source, "partition"`+
			` ON CONFLICT (source, "partition") DO UPDATE SET seq = CASE`+
			` WHEN excluded.seq > partition_floors.seq THEN excluded.seq ELSE partition_floors.seq END`,
			source, true, cutoff).Error; err != nil {
			return err
		}
		q := tx.Where("source = ? AND removed = ? AND updated_at < ?", source, true, cutoff).Delete(&PartitionItem{})
		n = q.RowsAffected
		return q.Error
	})
	if err != nil {
		return 0, fmt.Errorf("expire tombstones of %s: %w", source, err)
	}
	return n, nil
}

// Sources lists the names of the sources the store knows.
func (s *Store) Sources(ctx context.Context) ([]string, error) {
	var out []string
	if err := s.rdb.WithContext(ctx).Model(&Source{}).Order("name").Pluck("name", &out).Error; err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return out, nil
}
