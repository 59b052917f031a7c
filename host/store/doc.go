// Package store is the hub's database: the gorm models, their migrations and
// the queries the sync pipeline and the API run against the mirror.
//
// Two databases are supported. SQLite (github.com/mattn/go-sqlite3) is the
// embedded default: one file, WAL journal, synchronous=NORMAL, foreign keys
// on, a busy timeout, and exactly one writer: every write goes through a
// pool of one connection (BEGIN IMMEDIATE), so writers queue in the pool
// instead of failing with SQLITE_BUSY, while the download path reads through
// a separate read-only pool that WAL lets run beside the writer. PostgreSQL
// is reached by DSN through pgx; one pool serves both.
//
// Open brings the schema up to date before it returns: the hub's tables
// (gormigrate, one frozen copy of the structs per migration, see migrate.go)
// and the job queue's (River's own migrator), under an advisory lock on
// PostgreSQL so hub instances starting together do not race.
//
// The mirror: every record of every entity lives in records with the seq of
// its last change and the one partition its entity's rule puts it in;
// partition_items keeps the latest op (PUT or REMOVE tombstone) per
// (partition, entity, id) with its seq, so a device's download is an index
// range scan per partition (Changes). Seqs come from sources.seq, bumped
// inside the transaction that writes the changes: the row lock orders
// commits, so no reader ever sees seq n+1 committed before seq n. Every
// partition item gets a seq of its own, so a seq names exactly one op.
//
// The push stage: push_mutations keeps each device mutation for good
// ((device, mutation id) is its idempotency key) with its state, which
// changes on every step (pending, in flight with its op, applied with its
// seq and result); push_mutation_bodies keeps its content beside it (the
// fields, the base snapshot, what a sync error shows), written at accept
// and again only when a conflict is met or resolved, so that each state
// change rewrites a narrow row, not the fields. push_ops holds the frozen
// ops in flight. The store's reads and writes of a PushMutation join the
// two.
//
// The package must not know about connectors, plugins, HTTP or the config
// format: it speaks in sources, entities, records, partitions and seqs.
// Computing partitions and deciding what a page means is the pull stage's
// job; store only applies the result atomically (ApplyBatch).
package store
