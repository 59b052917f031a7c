// Package client is the device side of synchub in Go: the library a mobile
// or desktop app embeds (and the synchub-device CLI wraps) to work offline
// against a hub.
//
// It keeps a local SQLite store (gorm, WAL) holding, per source, the hub's
// schema with a hash per entity, the opaque checkpoint token, the records the
// device may see, a change log of local edits, a cache of the hub's sync
// errors, file metadata with a download queue, and a sync log.
//
// # Never lose an edit
//
// The rules that make an offline edit safe, in the order a sync applies them:
//
//   - Every local Create, Update or Delete writes the local record and its
//     change-log entry in one transaction. A record has at most one pending
//     (unsent) entry: edits coalesce as the hub's push worker does
//     (create+update = create, update+update = update with merged fields,
//     update+delete = delete, create+delete = nothing).
//   - Before a batch goes out its entries are marked "sending" in the store.
//     A sending entry is never coalesced again (the hub may already hold its
//     mutation id, and it dedupes on that id), and it is re-sent unchanged
//     after a crash. Accepted entries become "sent", rejected ones "error".
//   - A pull never overwrites a record that still has a change-log entry:
//     the server's version is kept aside (a shadow row) for conflict display
//     and for when the entry goes away.
//   - An entry is dropped exactly when the hub has reported its mutation id
//     in "applied" and the server's version of the record has arrived: a put
//     of the record after the applied report, or the end of a download pass
//     (has_more false, a consistent point at which the mirror reflects every
//     mutation it reported). The record then takes the server's version, so
//     there is no flicker and no echo of the device's own create.
//   - A create whose record the back end keyed itself ("applied" carries the
//     server id) is re-keyed locally: the record, its entries, its files and
//     every lookup in other records and pending entries that pointed at the
//     client id.
//   - Each page of changes is applied in one transaction together with the
//     checkpoint that follows it, so a crash between pages neither loses nor
//     applies twice. "reset" partitions are cleared (except records with
//     local edits) before the page's ops are applied.
//   - A full pass (empty checkpoint) ends with a sweep: records the pass did
//     not deliver and that carry no local edit are removed, since a full
//     sync sends no tombstones.
//   - When an entity's schema hash changes, the client uploads first, then
//     clears the changed entities' records (again sparing local edits) and
//     the checkpoint in one transaction, and runs a full pass. The hub's
//     checkpoint is one opaque token, so per-entity partitions cannot be
//     dropped from it; a full pass is the simple correct alternative.
//   - Repair of a damaged store exports the change log and the account
//     first, moves the damaged file aside, and re-imports them into a fresh
//     store whose first sync is a full pass.
//
// The package must not know anything of the hub's internals (it imports
// nothing under host/): it speaks only the hub's REST API, whose transport
// sits in api.go (JSON calls, token refresh), filewire.go (file content and
// upload) and events.go (the SSE stream).
package client
