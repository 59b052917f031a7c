package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PushTx is one transaction of the push stage: the queries it runs while
// planning ops and recording their results. Everything in it commits
// together.
type PushTx struct {
	s  *Store
	tx *gorm.DB
	// passes are the entities whose state rows ApplyMirror has ensured
	// in this transaction, with their full pass: a transaction records
	// several batches of one entity.
	passes map[[2]string]int64
}

// PushTx runs fn in one transaction. On SQLite it holds the only write
// connection: fn must not use the Store itself.
func (s *Store) PushTx(ctx context.Context, fn func(*PushTx) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&PushTx{s: s, tx: tx})
	})
}

// planOmits are the columns planning leaves out of a mutation: the base
// snapshot, what a sync error shows, and the times of its last change and
// resolution (the push stage writes them and never reads them).
var planOmits = []string{"base_fields", "server_record", "conflict_fields", "updated_at", "resolved_at"}

// resultOmits are the columns recording an op's result leaves out of its
// mutations: their fields (the op has them), what a sync error shows, and
// the times of their last change and resolution.
var resultOmits = []string{"fields", "server_record", "conflict_fields", "updated_at", "resolved_at"}

// WaitingMutations returns source's mutations waiting to be sent (pending
// and blocked), oldest first: the first limit of them (all with limit 0),
// and more reports whether others follow. It adds the source's parked
// conflicts older than the last of them, which hold back the later
// mutations of their records. Rows come without BaseFields, ServerRecord
// and ConflictFields. With lock on PostgreSQL the pending and blocked rows
// are locked FOR UPDATE SKIP LOCKED, so a concurrent planner skips them.
//
// Each status is read on its own, along idx_push_mutations_waiting in id
// order: one condition on several statuses made SQLite's planner scan the
// whole table, every applied mutation ever kept included.
func (t *PushTx) WaitingMutations(source string, lock bool, limit int) (rows []PushMutation, more bool, err error) {
	last := int64(0) // with a limit: the last id in it, which bounds the reads
	if limit > 0 {
		var ids []int64
		for _, status := range waitingStatuses {
			err := waitingIDs(t.tx, source, status, limit+1).each(t.tx, func(r *sql.Rows) error {
				ids = append(ids, 0)
				return r.Scan(&ids[len(ids)-1])
			})
			if err != nil {
				return nil, false, fmt.Errorf("waiting mutations of %s: %w", source, err)
			}
		}
		if len(ids) > limit {
			slices.Sort(ids)
			last, more = ids[limit-1], true
		}
	}
	for _, status := range append(waitingStatuses, MutationConflict) {
		if rows, err = planQuery.find(t.tx, waitingRows(t.tx, source, status, last, lock), rows); err != nil {
			return nil, false, fmt.Errorf("waiting mutations of %s: %w", source, err)
		}
	}
	slices.SortFunc(rows, func(a, b PushMutation) int { return cmp.Compare(a.ID, b.ID) })
	return rows, more, nil
}

// waitingStatuses are the statuses of mutations waiting to be sent.
var waitingStatuses = []string{MutationPending, MutationBlocked}

// waitingIDs reads the ids of the first n mutations of a status.
func waitingIDs(tx *gorm.DB, source, status string, n int) *plain {
	return newPlain(tx).sql("SELECT id FROM push_mutations WHERE source = ").arg(source).sql(" AND status = ").constant(status).
		sql(" ORDER BY id LIMIT ").arg(n)
}

// waitingRows reads the mutations of a status (the parked ones of
// MutationConflict) up to id last (with last > 0), oldest first; with lock
// on PostgreSQL it locks the rows, skipping those locked. The status is a
// constant in the statement (see plain.constant): with a placeholder,
// PostgreSQL's generic plan walked the primary key through every applied
// mutation.
func waitingRows(tx *gorm.DB, source, status string, last int64, lock bool) *plain {
	q := planQuery.start(tx).sql("source = ").arg(source).sql(" AND status = ").constant(status)
	if status == MutationConflict {
		q.sql(" AND parked = ").arg(true)
	}
	if last > 0 {
		q.sql(" AND id <= ").arg(last)
	}
	q.sql(" ORDER BY id")
	if lock && status != MutationConflict && q.pg {
		q.sql(" FOR UPDATE OF push_mutations SKIP LOCKED")
	}
	return q
}

// Ops returns source's frozen ops, oldest first. The ops in known, which
// the caller holds as they were written and unchanged since (an op's
// content never changes; its state changes only where its sender records
// its result), are taken from there instead of being read again.
func (t *PushTx) Ops(source string, known map[int64]PushOp) ([]PushOp, error) {
	var ops []PushOp
	if len(known) == 0 {
		if err := t.tx.Where("source = ?", source).Order("id").Find(&ops).Error; err != nil {
			return nil, fmt.Errorf("push ops of %s: %w", source, err)
		}
	} else {
		// The ids alone come from the source's index; only the rows the
		// caller does not hold are read.
		var ids, unknown []int64
		if err := t.tx.Model(&PushOp{}).Where("source = ?", source).Order("id").Pluck("id", &ids).Error; err != nil {
			return nil, fmt.Errorf("push ops of %s: %w", source, err)
		}
		for _, id := range ids {
			if _, ok := known[id]; !ok {
				unknown = append(unknown, id)
			}
		}
		read := make([]PushOp, 0, len(unknown))
		for part := range slices.Chunk(unknown, chunk) {
			var rows []PushOp
			if err := t.tx.Where("id IN ?", part).Find(&rows).Error; err != nil {
				return nil, fmt.Errorf("push ops of %s: %w", source, err)
			}
			read = append(read, rows...)
		}
		if err := t.fillShared(read); err != nil {
			return nil, fmt.Errorf("push ops of %s: %w", source, err)
		}
		byID := make(map[int64]PushOp, len(read))
		for _, op := range read {
			byID[op.ID] = op
		}
		ops = make([]PushOp, 0, len(ids))
		for _, id := range ids {
			if op, ok := known[id]; ok {
				ops = append(ops, op)
			} else if op, ok := byID[id]; ok {
				ops = append(ops, op)
			}
		}
		return ops, nil
	}
	if err := t.fillShared(ops); err != nil {
		return nil, fmt.Errorf("push ops of %s: %w", source, err)
	}
	return ops, nil
}

// Op returns one op; ok is false when it is gone.
func (t *PushTx) Op(id int64) (PushOp, bool, error) {
	var ops []PushOp
	if err := t.tx.Where("id = ?", id).Limit(1).Find(&ops).Error; err != nil {
		return PushOp{}, false, fmt.Errorf("push op %d: %w", id, err)
	}
	if len(ops) == 0 {
		return PushOp{}, false, nil
	}
	if err := t.fillShared(ops); err != nil {
		return PushOp{}, false, fmt.Errorf("push op %d: %w", id, err)
	}
	return ops[0], true, nil
}

// fillShared reads the fields of the ops whose rows hold none from their
// mutations (PushOp.SharedFields).
func (t *PushTx) fillShared(ops []PushOp) error {
	at := map[int64]int{}
	for i := range ops {
		if len(ops[i].Fields) == 0 {
			at[ops[i].ID] = i
			ops[i].Fields, ops[i].SharedFields = nil, true
		}
	}
	if len(at) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(at))
	for part := range slices.Chunk(ids, chunk) {
		q := newPlain(t.tx).sql("SELECT m.op_id, b.fields FROM push_mutations m JOIN push_mutation_bodies b ON b.push_mutation_id = m.id WHERE ").
			in("m.op_id", part).sql(" ORDER BY m.id")
		err := q.each(t.tx, func(r *sql.Rows) error {
			var opID int64
			var fields []byte
			if err := r.Scan(&opID, &fields); err != nil {
				return err
			}
			if i := at[opID]; ops[i].Fields == nil {
				ops[i].Fields = fields
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fields of ops: %w", err)
		}
	}
	for _, i := range at {
		if ops[i].Fields == nil {
			return fmt.Errorf("op %d: its fields are its mutation's, and no mutation points to it", ops[i].ID)
		}
	}
	return nil
}

// MutationsOfOp returns the mutations an op carries, oldest first, as
// MutationsOfOps reads them.
func (t *PushTx) MutationsOfOp(opID int64) ([]PushMutation, error) {
	byOp, err := t.MutationsOfOps([]int64{opID})
	return byOp[opID], err
}

// Mutation returns one mutation, or ErrNotFound.
func (t *PushTx) Mutation(id int64) (PushMutation, error) {
	rows, err := fullQuery.find(t.tx, fullQuery.start(t.tx).sql("id = ").arg(id), nil)
	if err != nil {
		return PushMutation{}, fmt.Errorf("mutation %d: %w", id, err)
	}
	if len(rows) == 0 {
		return PushMutation{}, fmt.Errorf("mutation %d: %w", id, ErrNotFound)
	}
	return rows[0], nil
}

// DeviceCreates is Store.DeviceCreates inside the transaction.
func (t *PushTx) DeviceCreates(source string, deviceID int64, entity string, recordIDs []string) (map[string]PushMutation, error) {
	return deviceCreates(t.tx, source, deviceID, entity, recordIDs)
}

// InsertOp stores a new op (its ID is set).
func (t *PushTx) InsertOp(op *PushOp) error {
	ops := []PushOp{*op}
	if err := t.InsertOps(ops); err != nil {
		return err
	}
	*op = ops[0]
	return nil
}

// InsertOps stores new ops with one INSERT per chunk (their IDs are set).
// An op with SharedFields is stored without its fields, which stay in
// memory as they were.
func (t *PushTx) InsertOps(ops []PushOp) error {
	now := time.Now().UTC()
	for i := range ops {
		if ops[i].NextAttemptAt.IsZero() {
			ops[i].NextAttemptAt = now
		}
		if ops[i].CreatedAt.IsZero() {
			ops[i].CreatedAt = now
		}
		if !ops[i].SharedFields && len(ops[i].Fields) == 0 {
			ops[i].Fields = []byte("{}")
		}
	}
	if err := insertOps(t.tx, ops); err != nil {
		return fmt.Errorf("insert push ops: %w", err)
	}
	return nil
}

// UpdateMutationsEach sets cols on the mutations ids and, for each column
// of each, the mutation's own value (each[column][mutation id]: int64 for
// an integer column, else string), with one UPDATE per chunk.
func (t *PushTx) UpdateMutationsEach(ids []int64, cols map[string]any, each map[string]map[int64]any) error {
	if len(each) == 0 {
		return t.UpdateMutations(ids, cols)
	}
	now := time.Now().UTC()
	set := slices.Sorted(maps.Keys(cols)) // the same text for the same columns
	own := slices.Sorted(maps.Keys(each))
	for part := range slices.Chunk(ids, chunk) {
		// One UPDATE … FROM a table of (id, value…): each row finds its
		// values by the join, where a CASE would compare each row's id
		// with every id of the chunk.
		q := newPlain(t.tx).sql("UPDATE push_mutations SET updated_at = ").arg(now)
		for _, c := range set {
			q.sql(`, "` + c + `" = `).arg(cols[c])
		}
		names := "column1"
		for i, c := range own {
			name := "column" + strconv.Itoa(i+2)
			q.sql(`, "` + c + `" = v.` + name)
			names += ", " + name
		}
		if q.pg {
			// One array per column: one statement text whatever the
			// chunk's size, and typed, as PostgreSQL needs.
			q.sql(" FROM unnest(").arg(part).sql("::bigint[]")
			for _, c := range own {
				values, sqlType, err := eachColumn(part, c, each[c])
				if err != nil {
					return fmt.Errorf("update mutations: %w", err)
				}
				q.sql(", ").arg(values).sql("::" + sqlType + "[]")
			}
			q.sql(") AS v(" + names + ")")
		} else {
			q.sql(" FROM (VALUES ")
			for _, id := range part {
				vs := []any{id}
				for _, c := range own {
					vs = append(vs, each[c][id])
				}
				q.row(vs...)
			}
			q.sql(") AS v")
		}
		if _, err := q.sql(" WHERE push_mutations.id = v.column1").exec(t.tx); err != nil {
			return fmt.Errorf("update mutations: %w", err)
		}
	}
	return nil
}

// eachColumn returns column col's values for ids, in their order, as one
// typed array for PostgreSQL: []int64 (bigint) when the first is an
// int64, else []string (text).
func eachColumn(ids []int64, col string, vals map[int64]any) (values any, sqlType string, err error) {
	if _, isInt := vals[ids[0]].(int64); isInt {
		values, err = typedColumn[int64](ids, col, vals)
		return values, "bigint", err
	}
	values, err = typedColumn[string](ids, col, vals)
	return values, "text", err
}

func typedColumn[T int64 | string](ids []int64, col string, vals map[int64]any) ([]T, error) {
	out := make([]T, len(ids))
	for i, id := range ids {
		v, ok := vals[id].(T)
		if !ok {
			return nil, fmt.Errorf("column %s of mutation %d: %T where the column holds %T", col, id, vals[id], out[0])
		}
		out[i] = v
	}
	return out, nil
}

// UpdateOp sets columns of an op.
func (t *PushTx) UpdateOp(id int64, cols map[string]any) error {
	if err := t.tx.Model(&PushOp{}).Where("id = ?", id).Updates(cols).Error; err != nil {
		return fmt.Errorf("update push op %d: %w", id, err)
	}
	return nil
}

// DeleteOps deletes ops.
func (t *PushTx) DeleteOps(ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	for part := range slices.Chunk(ids, chunk) {
		if _, err := newPlain(t.tx).sql("DELETE FROM push_ops WHERE ").in("id", part).exec(t.tx); err != nil {
			return fmt.Errorf("delete push ops: %w", err)
		}
	}
	return nil
}

// UpdateMutations sets columns of mutations (updated_at too); the content
// columns (fields, base_fields, server_record, conflict_fields) go to
// their bodies.
func (t *PushTx) UpdateMutations(ids []int64, cols map[string]any) error {
	if len(ids) == 0 {
		return nil
	}
	c := make(map[string]any, len(cols)+1)
	body := map[string]any{}
	for k, v := range cols {
		if slices.Contains(bodyColumns, k) {
			body[k] = v
		} else {
			c[k] = v
		}
	}
	c["updated_at"] = time.Now().UTC()
	for part := range slices.Chunk(ids, chunk) {
		if err := t.tx.Model(&PushMutation{}).Where("id IN ?", part).Updates(c).Error; err != nil {
			return fmt.Errorf("update mutations: %w", err)
		}
		if len(body) == 0 {
			continue
		}
		if err := t.tx.Model(&pushMutationBody{}).Where("push_mutation_id IN ?", part).Updates(body).Error; err != nil {
			return fmt.Errorf("update mutations' content: %w", err)
		}
	}
	return nil
}

// Waiting returns the device's mutations of an entity's records (known to
// the device by ids) still waiting to be sent (pending, blocked): their
// ids, record ids and base versions only.
func (t *PushTx) Waiting(source string, deviceID int64, entity string, ids []string) ([]PushMutation, error) {
	var out []PushMutation
	for part := range slices.Chunk(ids, chunk) {
		q := newPlain(t.tx).sql("SELECT id, device_id, entity, record_id, base_version, status FROM push_mutations WHERE source = ").arg(source).
			sql(" AND device_id = ").arg(deviceID).sql(" AND entity = ").arg(entity).
			sql(" AND ").in("record_id", part).sql(" AND status IN (").list(MutationPending, MutationBlocked).sql(") ORDER BY id")
		err := q.each(t.tx, func(rows *sql.Rows) error {
			var m PushMutation
			err := rows.Scan(&m.ID, &m.DeviceID, &m.Entity, &m.RecordID, &m.BaseVersion, &m.Status)
			out = append(out, m)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("waiting mutations of device %d: %w", deviceID, err)
		}
	}
	return out, nil
}

// MirrorRecord returns a mirrored record inside the transaction.
func (t *PushTx) MirrorRecord(source, entity, id string) (Record, bool, error) {
	var rows []Record
	if err := t.tx.Where("source = ? AND entity = ? AND id = ?", source, entity, id).Limit(1).Find(&rows).Error; err != nil {
		return Record{}, false, fmt.Errorf("record %s/%s/%s: %w", source, entity, id, err)
	}
	if len(rows) == 0 {
		return Record{}, false, nil
	}
	return rows[0], true, nil
}

// ApplyMirror applies a batch to the mirror inside the transaction (see
// ApplyBatch), creating the source's and the entity's state rows when
// missing and stamping the entity's current full pass, both read once per
// transaction and entity.
func (t *PushTx) ApplyMirror(b Batch) (BatchResult, error) {
	key := [2]string{b.Source, b.Entity}
	pass, ok := t.passes[key]
	if !ok {
		var err error
		if pass, err = t.ensureEntity(b.Source, b.Entity); err != nil {
			return BatchResult{}, err
		}
		if t.passes == nil {
			t.passes = map[[2]string]int64{}
		}
		t.passes[key] = pass
	}
	b.Pass = pass
	b.history = t.s.keepsHistory(b.Source, b.Entity)
	res, err := applyBatch(t.tx, b)
	if err != nil {
		return BatchResult{}, fmt.Errorf("apply to mirror %s/%s: %w", b.Source, b.Entity, err)
	}
	return res, nil
}

// ensureEntity creates the source's and the entity's state rows when
// missing and returns the entity's current full pass.
func (t *PushTx) ensureEntity(source, entity string) (int64, error) {
	if err := t.tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Source{Name: source}).Error; err != nil {
		return 0, fmt.Errorf("ensure source %s: %w", source, err)
	}
	if err := t.tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&EntityState{Source: source, Entity: entity}).Error; err != nil {
		return 0, fmt.Errorf("ensure entity state %s/%s: %w", source, entity, err)
	}
	var pass []int64
	if err := t.tx.Model(&EntityState{}).Where("source = ? AND entity = ?", source, entity).Pluck("full_pass", &pass).Error; err != nil {
		return 0, fmt.Errorf("read entity state %s/%s: %w", source, entity, err)
	}
	if len(pass) == 1 {
		return pass[0], nil
	}
	return 0, nil
}

// TakeSeq takes one seq from the source's counter (creating the source's
// row when missing), for a mutation whose resolution changed no partition
// item but must still reach the device's changes feed.
func (t *PushTx) TakeSeq(source string) (int64, error) {
	if err := t.tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Source{Name: source}).Error; err != nil {
		return 0, fmt.Errorf("ensure source %s: %w", source, err)
	}
	return bumpSeq(t.tx, source, 1)
}

// OpMutations returns every mutation an op carries, whatever its status.
func (t *PushTx) OpMutations(opID int64) ([]PushMutation, error) {
	rows, err := fullQuery.find(t.tx, fullQuery.start(t.tx).sql("op_id = ").arg(opID).sql(" ORDER BY id"), nil)
	if err != nil {
		return nil, fmt.Errorf("mutations of op %d: %w", opID, err)
	}
	return rows, nil
}

// GroupMutations returns the device's mutations of a group.
func (t *PushTx) GroupMutations(source string, deviceID int64, group string) ([]PushMutation, error) {
	return groupMutations(t.tx, source, deviceID, group)
}

// SendSeq is the seq MarkSent gives ops sent now: the source's current
// seq (at least 1).
func (t *PushTx) SendSeq(source string) (int64, error) {
	seq, err := sourceSeq(t.tx, source)
	return max(seq, 1), err
}

// MarkSent records that ops are being sent: those sent for the first time
// get the source's current seq.
func (t *PushTx) MarkSent(source string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	seq, err := t.SendSeq(source)
	if err != nil {
		return err
	}
	for part := range slices.Chunk(ids, chunk) {
		if err := t.tx.Model(&PushOp{}).Where("id IN ? AND sent_seq = ?", part, 0).Update("sent_seq", seq).Error; err != nil {
			return fmt.Errorf("mark push ops sent: %w", err)
		}
	}
	return nil
}

// TouchedSince reports whether the mirror changed a record after seq: it
// was written, or removed, with a later seq.
func (t *PushTx) TouchedSince(source, entity, id string, seq int64) (bool, error) {
	var n int64
	if err := t.tx.Model(&Record{}).Where("source = ? AND entity = ? AND id = ? AND seq > ?", source, entity, id, seq).
		Count(&n).Error; err != nil {
		return false, fmt.Errorf("record %s/%s/%s: %w", source, entity, id, err)
	}
	if n > 0 {
		return true, nil
	}
	if err := t.tx.Model(&PartitionItem{}).Where("source = ? AND entity = ? AND id = ? AND seq > ?", source, entity, id, seq).
		Count(&n).Error; err != nil {
		return false, fmt.Errorf("partition items of %s/%s/%s: %w", source, entity, id, err)
	}
	return n > 0, nil
}

// MutationsOfOps returns the in-flight mutations of ops, by op, oldest
// first, without Fields, ServerRecord and ConflictFields.
func (t *PushTx) MutationsOfOps(opIDs []int64) (map[int64][]PushMutation, error) {
	out := map[int64][]PushMutation{}
	var rows []PushMutation
	for part := range slices.Chunk(opIDs, chunk) {
		q := resultQuery.start(t.tx).in("op_id", part).sql(" AND status = ").arg(MutationInflight).sql(" ORDER BY id")
		var err error
		if rows, err = resultQuery.find(t.tx, q, rows[:0]); err != nil {
			return nil, fmt.Errorf("mutations of ops: %w", err)
		}
		for _, r := range rows {
			out[r.OpID] = append(out[r.OpID], r)
		}
	}
	return out, nil
}

// insertOps writes ops with one INSERT … RETURNING per chunk (a plain
// statement) and sets their IDs, matched by key. An op with SharedFields
// is written without its fields.
func insertOps(tx *gorm.DB, ops []PushOp) error {
	pg := tx.Dialector.Name() == KindPostgres
	for part := range slices.Chunk(ops, chunk/2) {
		q := newPlain(tx).sql(insertOpsHead)
		if pg {
			// One array per column (as the mirror's upserts): one
			// statement text whatever the chunk's size.
			q.sql(insertOpsUnnest)
			q.args = opArrays(part)
		} else {
			q.sql(" VALUES ")
			for _, op := range part {
				q.row(op.Source, op.Key, op.Entity, op.Kind, op.RecordID, op.BaseVersion, opFields(op), op.Deferred,
					op.SecondPass, op.GroupKey, op.Attempts, op.Resends, op.Lost, op.Dead, op.SentSeq, op.NextAttemptAt,
					op.LastError, op.CreatedAt)
			}
		}
		at := make(map[string]int, len(part))
		for i, op := range part {
			at[op.Key] = i
		}
		n := 0
		err := q.sql(` RETURNING id, "key"`).each(tx, func(rows *sql.Rows) error {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				return err
			}
			if i, ok := at[key]; ok {
				part[i].ID = id
				n++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(part) {
			return fmt.Errorf("%d ops written, %d ids returned", len(part), n)
		}
	}
	return nil
}

// The insert of ops: its columns, and PostgreSQL's rows as arrays (see
// opArrays).
const (
	insertOpsHead = `INSERT INTO push_ops (source, "key", entity, kind, record_id, base_version, fields, deferred,
second_pass, group_key, attempts, resends, lost, dead, sent_seq, next_attempt_at, last_error, created_at)`
	insertOpsUnnest = `
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[],
$9::boolean[], $10::text[], $11::bigint[], $12::bigint[], $13::bytea[], $14::boolean[], $15::bigint[], $16::timestamptz[],
$17::text[], $18::timestamptz[])`
)

// opFields is what an op's fields column holds: empty for an op that
// shares its mutation's fields.
func opFields(op PushOp) []byte {
	if op.SharedFields {
		return []byte{}
	}
	return op.Fields
}

// opArrays returns ops as insertOpsUnnest's arrays, one per column.
func opArrays(ops []PushOp) []any {
	n := len(ops)
	var (
		source, key, entity, kind, record, base, group, lastErr = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		fields, deferred, lost     = make([][]byte, n), make([][]byte, n), make([][]byte, n)
		second, dead               = make([]bool, n), make([]bool, n)
		attempts, resends, sentSeq = make([]int64, n), make([]int64, n), make([]int64, n)
		next, created              = make([]time.Time, n), make([]time.Time, n)
	)
	for i, op := range ops {
		source[i], key[i], entity[i], kind[i], record[i], base[i] = op.Source, op.Key, op.Entity, op.Kind, op.RecordID, op.BaseVersion
		fields[i], deferred[i], lost[i] = opFields(op), op.Deferred, op.Lost
		second[i], group[i], dead[i], lastErr[i] = op.SecondPass, op.GroupKey, op.Dead, op.LastError
		attempts[i], resends[i], sentSeq[i] = int64(op.Attempts), int64(op.Resends), op.SentSeq
		next[i], created[i] = op.NextAttemptAt, op.CreatedAt
	}
	return []any{source, key, entity, kind, record, base, fields, deferred, second, group, attempts, resends, lost, dead,
		sentSeq, next, lastErr, created}
}
