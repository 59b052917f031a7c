// Package pull is the first stage of the sync pipeline: it brings the back
// end's records into the hub's mirror (DESIGN.md §3) and schedules that
// work.
//
// # Passes
//
// An entity is pulled in full when it has no cursor (first pull, admin
// reset, cursor expired), when a full pass was interrupted (it resumes), or
// when its schema hash changed (the schema of the synced fields, the key,
// the delete mode, and the configured fields, filter and partition rule).
// A full pass pushes the filter down, stamps every record it sees with the
// pass number and commits each page in one transaction with its resume
// cursor and the seqs it used; its last page, in the same transaction,
// removes every record of the entity the pass did not see (reconciliation;
// records another stage wrote after the pass began are spared) and makes
// the pass's cursor the incremental cursor.
//
// Otherwise the pull is incremental: unfiltered changes since the cursor,
// each page committed with the cursor after it. The hub evaluates the
// filter itself (sdk/filter.Eval) and removes records that stopped
// matching. Deletions come inline (Page.Deleted), from the delete feed
// (read before the changes; a full pass takes a fresh delete cursor before
// it starts and makes it current when it completes), or, for connectors
// that track none, from periodic id-only reconciliation (ListIDs, every
// Options.ReconcileInterval). A cursor the back end refuses
// (sdk.ErrCursorExpired) resets the entity and runs a full pass.
//
// A record whose version, partition and fields digest are unchanged is no
// change: no seq, no partition item, no device traffic. (Comparing the
// fields digest as well as the version makes a projection change or a
// back end with coarse versions still reach devices.) A record that moves
// partition gets a REMOVE in the old one and a PUT in the new one, each
// with its own seq. Writes are batched: one SELECT of the page's existing
// rows, batched upserts (see store.ApplyBatch).
//
// # Concurrency
//
// Entities of a source pull in parallel, up to hub.pull_concurrency; two
// pulls of one entity never overlap inside a process. Across hub instances
// (PostgreSQL) a source is pulled by one instance at a time: the first pull
// of a source takes store.TryLease, a session advisory lock
// (pg_try_advisory_lock) held on a dedicated connection for as long as any
// pull of the source runs in the instance, and freed by PostgreSQL itself
// if the instance dies, so no lease can be stranded. A pull that finds the
// lease taken fails with ErrBusy; a queued one snoozes and retries.
//
// # Scheduling
//
// Scheduled, on-demand (Trigger) and device-triggered (EnsureFresh) pulls
// are River jobs (v0.34.0): riversqlite over the store's single write
// connection on SQLite (single instance), riverdatabasesql on PostgreSQL
// (poll-only, several instances). Unique jobs keep one pull per
// (source, entities, full) waiting or running; a periodic job per source
// with an interval is enqueued by River's elected leader; failures retry
// with River's backoff; JobTimeout (default 30m) is below
// RescueStuckJobsAfter (JobTimeout+15m). Other stages' jobs (push) run on
// the same River client (Options.Stages, JobStage): one client per process
// keeps one leader, whose periodic jobs are the only ones enqueued. A pull cut short by a timeout or a
// crash loses nothing: it resumes from its last committed page. Stop
// finishes the page in flight, commits it, and stops the queue.
//
// Per-entity status (last pull times, last error, record count, cursors)
// lives in store.EntityState.
//
// The package must not know about HTTP, devices or checkpoints, and reaches
// connectors only through sdk.Client.
package pull
