// Package pgnotify carries change notices between hub instances that share
// one PostgreSQL database, so a device's event stream on one instance hears
// of changes another instance committed.
//
// A Bridge wraps the instance's events.Hub. Its Publish publishes locally,
// as the Hub would, and queues a notice that a sender goroutine sends with
// pg_notify on the store's pool; queued notices of one source coalesce (the
// partitions merge, the highest seq wins), so Publish never blocks on the
// database. A listener goroutine holds a dedicated connection that LISTENs
// and feeds the notices of the other instances to the local Hub; an
// instance skips its own (the origin field), having published them already.
//
// The channel is per database schema (synchub_changes_<hash of the schema>),
// so deployments on different schemas of one database never hear each
// other. A payload must stay under 8000 bytes: a long partition list is
// split over several notices, and a partition too long for a notice of its
// own turns into a source-wide notice that wakes every subscriber of the
// source. Notices are hints, like events: a device answers one by asking
// for changes since its checkpoint, so a spurious wake-up costs one empty
// request and a missed one is only a later sync.
//
// The listener survives a dropped connection: it logs, reconnects with
// backoff and then wakes every local subscriber (at the source's current
// seq), since notices sent while it was away are lost. It checks an idle
// connection every HealthCheck so a silently dead one is noticed. Close
// stops both goroutines and closes the connection.
//
// The package knows PostgreSQL and events.Hub only: not the store, HTTP or
// devices; the hub wires it when its store is PostgreSQL.
package pgnotify
