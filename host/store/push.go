package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The statuses of a device mutation (PushMutation.Status). Pending and
// inflight are on their way; applied and no_effect are done and reported to
// the device in its changes feed; conflict, rejected, not_found, dead and
// blocked are sync errors the device sees and resolves; dropped (take_server)
// and discarded (an admin discarded a dead letter) are closed without effect.
const (
	MutationPending   = "pending"
	MutationInflight  = "inflight"
	MutationApplied   = "applied"
	MutationNoEffect  = "no_effect"
	MutationConflict  = "conflict"
	MutationRejected  = "rejected"
	MutationNotFound  = "not_found"
	MutationDead      = "dead"
	MutationBlocked   = "blocked"
	MutationDropped   = "dropped"
	MutationDiscarded = "discarded"
)

// SyncErrorStatuses are the statuses a device sees as sync errors.
var SyncErrorStatuses = []string{MutationConflict, MutationRejected, MutationNotFound, MutationDead, MutationBlocked}

// PushMutation is one device mutation, stored before the hub answers the
// upload and kept after it resolves: (DeviceID, MutationID) is the
// permanent idempotency key.
type PushMutation struct {
	ID int64 `gorm:"primaryKey;autoIncrement;index:idx_push_mutations_waiting,priority:3"`
	// Source, DeviceID (devices.id) and UserID say whose it is.
	Source     string `gorm:"size:200;not null;index:idx_push_mutations_waiting,priority:1;index:idx_push_mutations_applied,priority:1;index:idx_push_mutations_device,priority:1"`
	DeviceID   int64  `gorm:"not null;uniqueIndex:idx_push_mutations_dedupe,priority:1;index:idx_push_mutations_applied,priority:2;index:idx_push_mutations_device,priority:2"`
	MutationID string `gorm:"size:200;not null;uniqueIndex:idx_push_mutations_dedupe,priority:2"`
	UserID     int64  `gorm:"not null"`
	Entity     string `gorm:"size:200;not null;index:idx_push_mutations_device,priority:3"`
	// Op is create, update or delete.
	Op string `gorm:"size:10;not null"`
	// RecordID is the record's id as the device sent it (for a create, the
	// device's own id).
	RecordID string `gorm:"size:200;not null;index:idx_push_mutations_device,priority:4"`
	// BaseVersion is the version the edit is based on; the push stage moves
	// it forward when an earlier mutation of the same device on the same
	// record is applied (the device's own chain of edits).
	BaseVersion string `gorm:"size:200;not null;default:''"`
	// Fields is the JSON object of changed fields (all fields for a create).
	// It and the other content (BaseFields, ServerRecord, ConflictFields)
	// live in push_mutation_bodies, beside the row (pushMutationBody); the
	// store's reads and writes of a PushMutation carry them.
	Fields []byte `gorm:"-"`
	// BaseFields is the record's fields at BaseVersion, when the hub knew
	// them at accept time (three-way merges read it); nil otherwise.
	BaseFields []byte `gorm:"-"`
	ClientTime *time.Time
	// GroupID is the device's group id, "" for none.
	GroupID string `gorm:"size:200;not null;default:''"`
	// Hash digests the mutation as sent, to tell a re-send from a reuse of
	// the mutation id.
	Hash   string `gorm:"size:64;not null;default:''"`
	Status string `gorm:"size:20;not null;index:idx_push_mutations_waiting,priority:2"`
	// Parked marks a conflict waiting for the user's decision: later
	// mutations of the device on the record wait for it.
	Parked bool `gorm:"not null;default:false"`
	// Force sends the mutation without a version precondition (keep_mine).
	Force  bool   `gorm:"not null;default:false"`
	Reason string `gorm:"type:text;not null;default:''"`
	// ServerRecord is the server's record a conflict was met with, as JSON
	// {"id","version","modified_at","fields"}.
	ServerRecord []byte `gorm:"-"`
	// ConflictFields is a JSON array of the fields both sides changed.
	ConflictFields []byte `gorm:"-"`
	// BackendID is the back end's id of the record once applied.
	BackendID string `gorm:"size:200;not null;default:''"`
	// ResultVersion is the record's version the mutation's op produced.
	ResultVersion string `gorm:"size:200;not null;default:''"`
	// OpID is the push op carrying the mutation while in flight.
	OpID int64 `gorm:"not null;default:0;index"`
	// AppliedSeq is the seq at which the mirror reflects the mutation
	// (applied and no_effect): the changes feed reports it once the
	// device's checkpoint covers this seq.
	AppliedSeq int64 `gorm:"not null;default:0;index:idx_push_mutations_applied,priority:3"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ResolvedAt *time.Time
}

// pushMutationBody is a mutation's content, in a table beside its row:
// the fields (and base fields) it was accepted with, and what a sync error
// shows (the server's record, the conflicting fields). The content is
// written once, or once more when a conflict is met or resolved, while the
// row's state changes on every step of the push stage (in flight, then
// applied, with the op, seq and result). Kept apart, those changes write a
// row of a few hundred bytes instead of one that holds the fields: on
// SQLite fewer pages per batch, on PostgreSQL (which writes a new version
// of a row on every update, with an entry in each index) a small version.
type pushMutationBody struct {
	PushMutationID int64  `gorm:"primaryKey;autoIncrement:false"`
	Fields         []byte `gorm:"not null"`
	BaseFields     []byte
	ServerRecord   []byte
	ConflictFields []byte
}

func (pushMutationBody) TableName() string { return "push_mutation_bodies" }

// bodyColumns are the columns of a mutation kept in push_mutation_bodies.
var bodyColumns = []string{"fields", "base_fields", "server_record", "conflict_fields"}

func bodyOf(m *PushMutation) pushMutationBody {
	return pushMutationBody{PushMutationID: m.ID, Fields: m.Fields, BaseFields: m.BaseFields, ServerRecord: m.ServerRecord,
		ConflictFields: m.ConflictFields}
}

// PushOp is an op frozen before it is sent to the back end: its Key is the
// mutation id the connector sees, so re-sending it after a lost answer or a
// crash is idempotent, and its content never changes once written. The
// mutations it carries point to it (PushMutation.OpID).
type PushOp struct {
	ID          int64  `gorm:"primaryKey;autoIncrement"`
	Source      string `gorm:"size:200;not null;index:idx_push_ops_due,priority:1"`
	Key         string `gorm:"size:64;not null;uniqueIndex"`
	Entity      string `gorm:"size:200;not null"`
	Kind        string `gorm:"size:10;not null"`
	RecordID    string `gorm:"size:200;not null"`
	BaseVersion string `gorm:"size:200;not null;default:''"`
	// Fields is the op's fields as JSON. The row holds none (an empty
	// value) when they are its one mutation's fields as stored
	// (SharedFields): most ops carry a mutation unchanged, and copying
	// its fields would write them twice more (the op's insert and its
	// delete). The store's reads fill them in.
	Fields []byte `gorm:"not null"`
	// SharedFields marks an op whose fields are its one mutation's; its
	// row does not copy them. The mutation's fields never change while
	// it points to the op (a merged resolution replaces the fields only
	// of a mutation whose op is gone).
	SharedFields bool `gorm:"-"`
	// Deferred holds lookup fields left out of a first pass, set by a
	// second pass once their targets exist.
	Deferred   []byte
	SecondPass bool `gorm:"not null;default:false"`
	// GroupKey ties the ops of one atomic group ("" for none).
	GroupKey string `gorm:"size:400;not null;default:''"`
	Attempts int    `gorm:"not null;default:0"`
	// Resends counts how often a conflict resolution replaced the op.
	Resends int `gorm:"not null;default:0"`
	// Lost is a JSON array of the device's fields a conflict resolution
	// left out: once applied, the mutations are conflicts, not applied.
	Lost []byte
	// Dead marks an op that ran out of attempts: its effect is unknown, so
	// it is kept (a retry re-sends it under the same key) and its record's
	// later mutations wait.
	Dead bool `gorm:"not null;default:false"`
	// SentSeq is the source's seq when the op was first sent (0: never).
	// An answer to a later send may be the back end's replay of its first
	// answer, older than what the mirror learnt of the record since.
	SentSeq       int64     `gorm:"not null;default:0"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_push_ops_due,priority:2"`
	LastError     string    `gorm:"type:text;not null;default:''"`
	CreatedAt     time.Time
}

// RecordVersion is a mirrored record's fields at a version it no longer
// has, kept for entities whose conflict policy needs the base of a device's
// edit (KeepHistory).
type RecordVersion struct {
	Source    string    `gorm:"primaryKey;size:200"`
	Entity    string    `gorm:"primaryKey;size:200"`
	ID        string    `gorm:"primaryKey;size:200"`
	Version   string    `gorm:"primaryKey;size:200"`
	Fields    []byte    `gorm:"not null"`
	CreatedAt time.Time `gorm:"index"`
}

// KeepHistory makes the mirror keep the fields of every version an
// entity's records leave behind (RecordVersion), for three-way merges.
func (s *Store) KeepHistory(source string, entities ...string) {
	s.histMu.Lock()
	defer s.histMu.Unlock()
	if s.history == nil {
		s.history = map[string]bool{}
	}
	for _, e := range entities {
		s.history[source+"\x00"+e] = true
	}
}

func (s *Store) keepsHistory(source, entity string) bool {
	s.histMu.RLock()
	defer s.histMu.RUnlock()
	return s.history[source+"\x00"+entity]
}

// saveHistory stores the current fields of the records a batch is about to
// change to another version.
func saveHistory(tx *gorm.DB, b Batch, ids []string, now time.Time) error {
	for part := range slices.Chunk(ids, chunk) {
		var rows []Record
		if err := tx.Select("id", "version", "fields").Where("source = ? AND entity = ? AND id IN ?", b.Source, b.Entity, part).
			Find(&rows).Error; err != nil {
			return fmt.Errorf("read record history: %w", err)
		}
		vs := make([]RecordVersion, 0, len(rows))
		for _, r := range rows {
			if r.Version != "" {
				vs = append(vs, RecordVersion{Source: b.Source, Entity: b.Entity, ID: r.ID, Version: r.Version, Fields: r.Fields, CreatedAt: now})
			}
		}
		if len(vs) == 0 {
			continue
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&vs, chunk/4).Error; err != nil {
			return fmt.Errorf("write record history: %w", err)
		}
	}
	return nil
}

// RecordAt returns a record's fields at version: the mirror's when it has
// that version, else the kept history's; ok is false when neither has it.
func (s *Store) RecordAt(ctx context.Context, source, entity, id, version string) (fields []byte, ok bool, err error) {
	if version == "" {
		return nil, false, nil
	}
	db := s.rdb.WithContext(ctx)
	var recs []Record
	if err := db.Select("fields").Where("source = ? AND entity = ? AND id = ? AND version = ?", source, entity, id, version).
		Limit(1).Find(&recs).Error; err != nil {
		return nil, false, fmt.Errorf("record %s/%s/%s at %s: %w", source, entity, id, version, err)
	}
	if len(recs) == 1 {
		return recs[0].Fields, true, nil
	}
	var vs []RecordVersion
	if err := db.Where("source = ? AND entity = ? AND id = ? AND version = ?", source, entity, id, version).
		Limit(1).Find(&vs).Error; err != nil {
		return nil, false, fmt.Errorf("record %s/%s/%s at %s: %w", source, entity, id, version, err)
	}
	if len(vs) == 1 {
		return vs[0].Fields, true, nil
	}
	return nil, false, nil
}

// PruneRecordVersions deletes history older than before.
func (s *Store) PruneRecordVersions(ctx context.Context, before time.Time) (int64, error) {
	q := s.db.WithContext(ctx).Where("created_at < ?", before.UTC()).Delete(&RecordVersion{})
	if q.Error != nil {
		return 0, fmt.Errorf("prune record history: %w", q.Error)
	}
	return q.RowsAffected, nil
}

// MirrorRecords returns the mirrored records of an entity with the given
// ids, by id.
func (s *Store) MirrorRecords(ctx context.Context, source, entity string, ids []string) (map[string]Record, error) {
	out := make(map[string]Record, len(ids))
	for part := range slices.Chunk(ids, chunk) {
		var rows []Record
		if err := s.rdb.WithContext(ctx).Where("source = ? AND entity = ? AND id IN ?", source, entity, part).
			Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("records %s/%s: %w", source, entity, err)
		}
		for _, r := range rows {
			out[r.ID] = r
		}
	}
	return out, nil
}

// RemovedFrom returns which of ids an entity's records left one of
// partitions (a REMOVE tombstone is kept there): records a holder of those
// partitions saw, since deleted on the server or gone out of the mirror
// (a filter), so no longer in the mirror.
func (s *Store) RemovedFrom(ctx context.Context, source, entity string, ids, partitions []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 || len(partitions) == 0 {
		return out, nil
	}
	for part := range slices.Chunk(ids, chunk) {
		var found []string
		if err := s.rdb.WithContext(ctx).Model(&PartitionItem{}).Distinct("id").
			Where("source = ? AND entity = ? AND removed = ? AND id IN ? AND partition IN ?", source, entity, true, part, partitions).
			Pluck("id", &found).Error; err != nil {
			return nil, fmt.Errorf("tombstones %s/%s: %w", source, entity, err)
		}
		for _, id := range found {
			out[id] = true
		}
	}
	return out, nil
}

// DeviceMutations returns the device's stored mutations with the given
// mutation ids, by mutation id.
func (s *Store) DeviceMutations(ctx context.Context, deviceID int64, mutationIDs []string) (map[string]PushMutation, error) {
	out := make(map[string]PushMutation, len(mutationIDs))
	for part := range slices.Chunk(mutationIDs, chunk) {
		db := s.db.WithContext(ctx)
		rows, err := fullQuery.find(db, fullQuery.start(db).sql("device_id = ").arg(deviceID).sql(" AND ").in("mutation_id", part), nil)
		if err != nil {
			return nil, fmt.Errorf("mutations of device %d: %w", deviceID, err)
		}
		for _, r := range rows {
			out[r.MutationID] = r
		}
	}
	return out, nil
}

// DeviceCreates returns the device's create mutations of an entity for the
// given record ids (the device's own ids), whatever their status, by record
// id; when a device created one id twice, the latest wins. Their fields are
// not read (Fields, BaseFields, ServerRecord and ConflictFields are nil).
func (s *Store) DeviceCreates(ctx context.Context, source string, deviceID int64, entity string, recordIDs []string) (map[string]PushMutation, error) {
	return deviceCreates(s.db.WithContext(ctx), source, deviceID, entity, recordIDs)
}

func deviceCreates(db *gorm.DB, source string, deviceID int64, entity string, recordIDs []string) (map[string]PushMutation, error) {
	out := make(map[string]PushMutation, len(recordIDs))
	for part := range slices.Chunk(recordIDs, chunk) {
		var rows []PushMutation
		if err := db.Where("source = ? AND device_id = ? AND entity = ? AND record_id IN ? AND op = ?",
			source, deviceID, entity, part, "create").Order("id").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("creates of device %d: %w", deviceID, err)
		}
		for _, r := range rows {
			out[r.RecordID] = r
		}
	}
	return out, nil
}

// GroupMutations returns the device's stored mutations of a group.
func (s *Store) GroupMutations(ctx context.Context, source string, deviceID int64, group string) ([]PushMutation, error) {
	return groupMutations(s.db.WithContext(ctx), source, deviceID, group)
}

func groupMutations(db *gorm.DB, source string, deviceID int64, group string) ([]PushMutation, error) {
	q := fullQuery.start(db).sql("source = ").arg(source).sql(" AND device_id = ").arg(deviceID).sql(" AND group_id = ").arg(group).
		sql(" ORDER BY id")
	rows, err := fullQuery.find(db, q, nil)
	if err != nil {
		return nil, fmt.Errorf("group %q of device %d: %w", group, deviceID, err)
	}
	return rows, nil
}

// AcceptOutcome says what AcceptMutations did with one row.
type AcceptOutcome struct {
	// Inserted is false when the device had already stored this mutation
	// id; StoredHash is then the stored mutation's hash.
	Inserted   bool
	StoredHash string
}

// AcceptMutations stores rows in one transaction, skipping those whose
// (device, mutation id) is already stored, and runs enqueue in the same
// transaction (the job queue's transactional insert) unless nothing was
// inserted. Either all of it commits or none.
func (s *Store) AcceptMutations(ctx context.Context, rows []PushMutation, enqueue func(ctx context.Context, tx *sql.Tx) error) ([]AcceptOutcome, error) {
	out := make([]AcceptOutcome, len(rows))
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inserted := 0
		var bodies []pushMutationBody
		var taken []int // rows whose (device, mutation id) was stored already
		for i := range rows {
			if rows[i].Fields == nil {
				return fmt.Errorf("insert mutation %s: no fields", rows[i].MutationID)
			}
		}
		for start := 0; start < len(rows); start += acceptChunk {
			part := rows[start:min(start+acceptChunk, len(rows))]
			if err := insertMutations(tx, part); err != nil {
				return err
			}
			for i := range part {
				if part[i].ID == 0 {
					taken = append(taken, start+i)
					continue
				}
				out[start+i].Inserted = true
				inserted++
				bodies = append(bodies, bodyOf(&part[i]))
			}
		}
		if err := storedHashes(tx, rows, taken, out); err != nil {
			return err
		}
		if len(bodies) > 0 {
			if err := tx.CreateInBatches(bodies, 200).Error; err != nil {
				return fmt.Errorf("insert mutations' content: %w", err)
			}
		}
		if inserted == 0 || enqueue == nil {
			return nil
		}
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return errors.New("enqueue push: the transaction is not a database/sql transaction")
		}
		return enqueue(ctx, sqlTx)
	})
	if err != nil {
		return nil, fmt.Errorf("accept mutations: %w", err)
	}
	inserted := 0
	for _, o := range out {
		if o.Inserted {
			inserted++
		}
	}
	s.analyzeAsItGrows(ctx, &s.pushGrowth, int64(inserted), analyzeMutations)
	return out, nil
}

// acceptChunk is how many mutations one INSERT of AcceptMutations holds
// (22 parameters each).
const acceptChunk = 200

// insertMutations inserts rows with one INSERT ... ON CONFLICT DO NOTHING,
// setting the ID of each row it inserted (and its times, as gorm's Create
// would); a row whose (device, mutation id) is stored already, or repeats
// an earlier row's, keeps ID 0.
func insertMutations(tx *gorm.DB, rows []PushMutation) error {
	type key struct {
		device int64
		id     string
	}
	at := make(map[key]int, len(rows))
	now := time.Now().UTC()
	q := newPlain(tx).sql(insertMutationsHead)
	for i := range rows {
		r := &rows[i]
		r.ID = 0
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
		if r.UpdatedAt.IsZero() {
			r.UpdatedAt = now
		}
		if _, dup := at[key{r.DeviceID, r.MutationID}]; !dup {
			at[key{r.DeviceID, r.MutationID}] = i
		}
		q.row(r.Source, r.DeviceID, r.MutationID, r.UserID, r.Entity, r.Op, r.RecordID, r.BaseVersion, r.ClientTime, r.GroupID,
			r.Hash, r.Status, r.Parked, r.Force, r.Reason, r.BackendID, r.ResultVersion, r.OpID, r.AppliedSeq, r.CreatedAt,
			r.UpdatedAt, r.ResolvedAt)
	}
	return q.sql(" ON CONFLICT (device_id, mutation_id) DO NOTHING RETURNING id, device_id, mutation_id").each(tx, func(rs *sql.Rows) error {
		var id int64
		var k key
		if err := rs.Scan(&id, &k.device, &k.id); err != nil {
			return fmt.Errorf("insert mutations: %w", err)
		}
		i, ok := at[k]
		if !ok {
			return fmt.Errorf("insert mutations: the database returned mutation %s of device %d, which was not inserted", k.id, k.device)
		}
		rows[i].ID = id
		return nil
	})
}

const insertMutationsHead = `INSERT INTO push_mutations (source, device_id, mutation_id, user_id, entity, op, record_id, base_version,
client_time, group_id, hash, status, parked, force, reason, backend_id, result_version, op_id, applied_seq, created_at, updated_at,
resolved_at) VALUES `

// storedHashes sets, for the rows at taken (not inserted: their device's
// mutation id was stored already), the stored mutation's ID and hash.
func storedHashes(tx *gorm.DB, rows []PushMutation, taken []int, out []AcceptOutcome) error {
	byDevice := map[int64][]int{}
	for _, i := range taken {
		byDevice[rows[i].DeviceID] = append(byDevice[rows[i].DeviceID], i)
	}
	for device, at := range byDevice {
		for part := range slices.Chunk(at, chunk) {
			ids := make([]string, len(part))
			for j, i := range part {
				ids[j] = rows[i].MutationID
			}
			found := map[string]PushMutation{}
			q := newPlain(tx).sql("SELECT id, mutation_id, hash FROM push_mutations WHERE device_id = ").arg(device).sql(" AND ").in("mutation_id", ids)
			err := q.each(tx, func(rs *sql.Rows) error {
				var m PushMutation
				if err := rs.Scan(&m.ID, &m.MutationID, &m.Hash); err != nil {
					return err
				}
				found[m.MutationID] = m
				return nil
			})
			if err != nil {
				return fmt.Errorf("read stored mutations of device %d: %w", device, err)
			}
			for _, i := range part {
				if m, ok := found[rows[i].MutationID]; ok {
					out[i].StoredHash, rows[i].ID = m.Hash, m.ID
				}
			}
		}
	}
	return nil
}

// AppliedMutations returns the device's mutations of source that resolved
// applied or with no effect at a seq in (after, through], in seq order, at
// most about limit of them: when more remain, the answer stops at a seq
// boundary and reached is that seq; otherwise reached is through.
func (s *Store) AppliedMutations(ctx context.Context, source string, deviceID int64, after, through int64, limit int) (rows []PushMutation, reached int64, err error) {
	if through <= after {
		return nil, through, nil
	}
	db := s.rdb.WithContext(ctx)
	base := func() *gorm.DB {
		return db.Select("id", "mutation_id", "entity", "op", "record_id", "backend_id", "status", "applied_seq").
			Where("source = ? AND device_id = ? AND applied_seq > ? AND applied_seq <= ? AND status IN ?",
				source, deviceID, after, through, []string{MutationApplied, MutationNoEffect})
	}
	if err := base().Order("applied_seq, id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("applied mutations of device %d: %w", deviceID, err)
	}
	if len(rows) <= limit {
		return rows, through, nil
	}
	// Stop after the seq of the limit-th row, with every row of that seq.
	reached = rows[limit-1].AppliedSeq
	rows = rows[:0]
	if err := base().Where("applied_seq <= ?", reached).Order("applied_seq, id").Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("applied mutations of device %d: %w", deviceID, err)
	}
	return rows, reached, nil
}

// SyncErrors returns the device's unresolved sync errors of source, oldest
// first.
func (s *Store) SyncErrors(ctx context.Context, source string, deviceID int64) ([]PushMutation, error) {
	db := s.rdb.WithContext(ctx)
	q := fullQuery.start(db).sql("source = ").arg(source).sql(" AND device_id = ").arg(deviceID).sql(" AND status IN (").
		list(anys(SyncErrorStatuses)...).sql(") ORDER BY id")
	rows, err := fullQuery.find(db, q, nil)
	if err != nil {
		return nil, fmt.Errorf("sync errors of device %d: %w", deviceID, err)
	}
	return rows, nil
}

// MutationsWithStatus returns source's mutations with one of statuses,
// oldest first, at most limit.
func (s *Store) MutationsWithStatus(ctx context.Context, source string, statuses []string, limit int) ([]PushMutation, error) {
	db := s.rdb.WithContext(ctx)
	q := fullQuery.start(db).sql("source = ").arg(source).sql(" AND status IN (").list(anys(statuses)...).sql(") ORDER BY id LIMIT ").
		arg(limit)
	rows, err := fullQuery.find(db, q, nil)
	if err != nil {
		return nil, fmt.Errorf("mutations of %s: %w", source, err)
	}
	return rows, nil
}

// CountMutations counts source's mutations per status. Like the other
// reads for devices and admins here, it runs on the read pool: on SQLite
// it must not queue with the push stage's writes for the one writer
// connection.
func (s *Store) CountMutations(ctx context.Context, source string) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	if err := s.rdb.WithContext(ctx).Model(&PushMutation{}).Select("status, COUNT(*) AS n").Where("source = ?", source).
		Group("status").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("count mutations of %s: %w", source, err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// NextPushDue returns when source next has push work: now-or-earlier when
// a mutation is pending or an op is due, the earliest op's next attempt
// otherwise, and ok false when there is nothing to push.
func (s *Store) NextPushDue(ctx context.Context, source string) (at time.Time, ok bool, err error) {
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&PushMutation{}).Where("source = ? AND status = ?", source, MutationPending).Limit(1).Count(&n).Error; err != nil {
		return at, false, fmt.Errorf("push due %s: %w", source, err)
	}
	if n > 0 {
		return time.Time{}, true, nil
	}
	var ops []PushOp
	if err := db.Select("next_attempt_at").Where("source = ? AND dead = ?", source, false).Order("next_attempt_at").Limit(1).Find(&ops).Error; err != nil {
		return at, false, fmt.Errorf("push due %s: %w", source, err)
	}
	if len(ops) == 0 {
		return at, false, nil
	}
	return ops[0].NextAttemptAt, true, nil
}

// DeviceApplied returns the device's applied mutations of an entity's
// records known by any of ids, oldest first: the chain of its own edits an
// upload based on an older version continues.
func (s *Store) DeviceApplied(ctx context.Context, source string, deviceID int64, entity string, ids []string) ([]PushMutation, error) {
	var rows []PushMutation
	for part := range slices.Chunk(ids, chunk) {
		var got []PushMutation
		if err := s.db.WithContext(ctx).Select("id", "record_id", "backend_id", "base_version", "result_version").
			Where("source = ? AND device_id = ? AND entity = ? AND (record_id IN ? OR backend_id IN ?) AND status = ? AND result_version <> ''",
				source, deviceID, entity, part, part, MutationApplied).Order("id").Find(&got).Error; err != nil {
			return nil, fmt.Errorf("applied mutations of device %d: %w", deviceID, err)
		}
		rows = append(rows, got...)
	}
	slices.SortFunc(rows, func(a, b PushMutation) int { return int(a.ID - b.ID) })
	return slices.CompactFunc(rows, func(a, b PushMutation) bool { return a.ID == b.ID }), nil
}
