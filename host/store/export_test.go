package store

import (
	"context"
	"database/sql"
)

// Test hooks into the store's internals.

// MutationColumns is the column list the push stage's plain reads use.
var MutationColumns = mutationColumns

// ScanAllMutations reads source's mutations, every column, through the
// push stage's plain reader.
func (t *PushTx) ScanAllMutations(source string) ([]PushMutation, error) {
	return fullQuery.find(t.tx, fullQuery.start(t.tx).sql("source = ").arg(source).sql(" ORDER BY id"), nil)
}

// WriterCacheKiB is the SQLite writer's page cache size.
const WriterCacheKiB = writerCacheKiB

// PlainIn runs "SELECT col FROM table WHERE col <in values> ORDER BY col"
// as a plain statement and returns the column's values as text.
func (s *Store) PlainIn(table, col string, values any) (text string, out []string, err error) {
	q := newPlain(s.db).sql("SELECT "+col+" FROM "+table+" WHERE ").in(col, values).sql(" ORDER BY " + col)
	err = q.each(s.db, func(r *sql.Rows) error {
		var v string
		out = append(out, v)
		return r.Scan(&out[len(out)-1])
	})
	return q.b.String(), out, err
}

// PlainRows runs "SELECT column1… FROM (VALUES rows) AS v WHERE column1
// <> notFirst" as a plain statement, and returns its text, how many
// arguments it binds and the rows as text.
func (s *Store) PlainRows(rows [][]any, notFirst string) (text string, args int, out [][]string, err error) {
	q := newPlain(s.db).sql("SELECT * FROM (VALUES ")
	for _, r := range rows {
		q.row(r...)
	}
	q.sql(") AS v WHERE column1 <> ").arg(notFirst).sql(" ORDER BY column1")
	err = q.each(s.db, func(r *sql.Rows) error {
		v := make([]string, 4)
		if err := r.Scan(&v[0], &v[1], &v[2], &v[3]); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return q.b.String(), len(q.args), out, err
}

// PushMutationBody is a mutation's content row.
type PushMutationBody = pushMutationBody

// RollbackLastMigration undoes the newest migration.
func (s *Store) RollbackLastMigration(ctx context.Context) error {
	return s.migrator(ctx).RollbackLast()
}

// MigrateAgain runs the migrations not yet run.
func (s *Store) MigrateAgain(ctx context.Context) error { return s.migrate(ctx) }

// WaitingQueries are the statements WaitingMutations runs with a limit of
// n whose last id is last: the ids of each waiting status, then the rows
// of each.
func (s *Store) WaitingQueries(source string, n int, last int64) (texts []string, args [][]any) {
	for _, st := range waitingStatuses {
		q := waitingIDs(s.db, source, st, n)
		texts, args = append(texts, q.b.String()), append(args, q.args)
	}
	for _, st := range append(waitingStatuses, MutationConflict) {
		q := waitingRows(s.db, source, st, last, true)
		texts, args = append(texts, q.b.String()), append(args, q.args)
	}
	return texts, args
}
