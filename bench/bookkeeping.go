package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/synchub/synchub/host/store"
)

// bookkeeping is P5's third reference: the durable writes the push stage
// makes for n device creates, made by a plain loop of statements on a
// fresh SQLite store of the hub's schema, with no planning, no connector
// and no Go code between them. Per batch of uploadBatch, as the hub: one
// transaction inserts the ops and marks the mutations in flight; a second
// writes each record and its partition item to the mirror, marks the
// mutations applied and deletes the ops. The mirror first holds seed
// records, as the hub's does after its first pull. What the hub alone
// takes beyond this loop is the hub's own cost, not the store's.
func bookkeeping(ctx context.Context, dir string, n, seed int) (time.Duration, error) {
	st, done, err := freshStore(ctx, dbSQLite, dir, "")
	if err != nil {
		return 0, err
	}
	defer done()
	db, err := st.DB().DB()
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	fields := make([][]byte, n)
	for i := range n {
		if fields[i], err = json.Marshal(uploadFields(i)); err != nil {
			return 0, err
		}
	}
	ids, err := bookkeepingSetup(ctx, db, fields, seed, now)
	if err != nil {
		return 0, fmt.Errorf("bookkeeping set-up: %w", err)
	}
	// The set-up's pages go to the database file before the clock starts,
	// as the hub's first pull's have by the time its push stage runs.
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return 0, fmt.Errorf("bookkeeping set-up: checkpoint: %w", err)
	}
	seq := seed
	start := time.Now()
	for b := 0; b < n; b += uploadBatch {
		batch := ids[b:min(b+uploadBatch, n)]
		ops, err := bookkeepingPlan(ctx, db, batch, now)
		if err != nil {
			return 0, fmt.Errorf("bookkeeping plan: %w", err)
		}
		if err := bookkeepingRecord(ctx, db, batch, ops, fields[b:], seq, now); err != nil {
			return 0, fmt.Errorf("bookkeeping record: %w", err)
		}
		seq += len(batch)
	}
	return time.Since(start), nil
}

// inTx runs fn in a transaction on db.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// bookkeepingSetup writes the accepted mutations (each row and its content)
// and seed mirrored records (untimed) and returns the mutations' ids.
func bookkeepingSetup(ctx context.Context, db *sql.DB, fields [][]byte, seed int, now time.Time) ([]int64, error) {
	seedFields := fields[0]
	for b := 0; b < max(len(fields), seed); b += 500 {
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			var margs, rargs, iargs []any
			for i := b; i < min(b+500, len(fields)); i++ {
				margs = append(margs, "crm", 1, fmt.Sprint("m", i), 1, "account", "create", fmt.Sprint("c", i),
					store.MutationPending, now, now)
			}
			for i := b; i < min(b+500, seed); i++ {
				id := uuid.NewString()
				rargs = append(rargs, "crm", "account", id, "v", now, seedFields, "h", "account/*", i+1, 1)
				iargs = append(iargs, "crm", "account/*", "account", id, i+1, false, now)
			}
			if len(margs) > 0 {
				rows, err := tx.QueryContext(ctx, `INSERT INTO push_mutations (source, device_id, mutation_id, user_id, entity, op,`+
					` record_id, status, created_at, updated_at) VALUES `+values(len(margs)/10, 10, false)+` RETURNING id`, margs...)
				if err != nil {
					return err
				}
				var bargs []any
				for i := b; rows.Next(); i++ {
					var id int64
					if err := rows.Scan(&id); err != nil {
						rows.Close()
						return err
					}
					bargs = append(bargs, id, fields[i])
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO push_mutation_bodies (push_mutation_id, fields) VALUES `+
					values(len(bargs)/2, 2, false), bargs...); err != nil {
					return err
				}
			}
			if len(rargs) > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO records (source, entity, id, version, modified_at, fields, hash,`+
					` "partition", seq, pass) VALUES `+values(len(rargs)/10, 10, false), rargs...); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO partition_items (source, "partition", entity, id, seq, removed,`+
					` updated_at) VALUES `+values(len(iargs)/7, 7, false), iargs...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT id FROM push_mutations ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// bookkeepingPlan inserts a batch's ops (without fields, which they share
// with their mutations) and marks the mutations in flight; it returns the
// ops' ids.
func bookkeepingPlan(ctx context.Context, db *sql.DB, batch []int64, now time.Time) ([]int64, error) {
	var ops []int64
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		var args []any
		for i := range batch {
			args = append(args, "crm", uuid.Must(uuid.NewV7()).String(), "account", "create", fmt.Sprint("c", i), []byte{}, now, now)
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO push_ops (source, "key", entity, kind, record_id, fields, next_attempt_at,`+
			` created_at) VALUES `+values(len(batch), 8, false)+` RETURNING id`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ops = append(ops, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		args = []any{store.MutationInflight, now}
		for i, id := range batch {
			args = append(args, id, ops[i])
		}
		_, err = tx.ExecContext(ctx, `UPDATE push_mutations SET status = ?, updated_at = ?, op_id = v.column2 FROM (VALUES `+
			values(len(batch), 2, false)+`) AS v WHERE push_mutations.id = v.column1`, args...)
		return err
	})
	return ops, err
}

// bookkeepingRecord writes a batch's results: each created record and its
// partition item, the mutations applied with their seqs, the ops deleted.
func bookkeepingRecord(ctx context.Context, db *sql.DB, batch, ops []int64, fields [][]byte, seq int, now time.Time) error {
	return inTx(ctx, db, func(tx *sql.Tx) error {
		var rargs, iargs, margs, oargs []any
		margs = []any{store.MutationApplied, now}
		for i, m := range batch {
			id, s := uuid.Must(uuid.NewV7()).String(), seq+i+1
			rargs = append(rargs, "crm", "account", id, "v", now, fields[i], "h", "account/*", s, 1)
			iargs = append(iargs, "crm", "account/*", "account", id, s, false, now)
			margs = append(margs, m, s, id)
			oargs = append(oargs, ops[i])
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO records (source, entity, id, version, modified_at, fields, hash, "partition", seq, pass) VALUES ` +
				values(len(batch), 10, false) + ` ON CONFLICT (source, entity, id) DO UPDATE SET version = excluded.version,` +
				` modified_at = excluded.modified_at, fields = excluded.fields, hash = excluded.hash,` +
				` "partition" = excluded."partition", seq = excluded.seq, pass = excluded.pass`, rargs},
			{`INSERT INTO partition_items (source, "partition", entity, id, seq, removed, updated_at) VALUES ` +
				values(len(batch), 7, false) + ` ON CONFLICT (source, "partition", entity, id) DO UPDATE SET seq = excluded.seq,` +
				` removed = excluded.removed, updated_at = excluded.updated_at`, iargs},
			{`UPDATE push_mutations SET status = ?, updated_at = ?, op_id = 0, applied_seq = v.column2, backend_id = v.column3,` +
				` result_version = 'v' FROM (VALUES ` + values(len(batch), 3, false) + `) AS v WHERE push_mutations.id = v.column1`, margs},
			{`DELETE FROM push_ops WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?,", len(ops)), ",") + `)`, oargs},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
}
