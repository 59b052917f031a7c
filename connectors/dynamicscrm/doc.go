// Package dynamicscrm is the connector for Microsoft Dynamics 365 CRM, over
// the Dataverse Web API (OData v4). It syncs the tables an admin configures
// (account, contact, opportunity, ...): full pulls with the filter and the
// projection pushed down, incremental pulls through change tracking (delta
// links, `$deletedEntity` rows), and uploads through `$batch` change sets
// with optimistic concurrency (ETag / If-Match).
//
// Records. A record's id is the table's primary key (a GUID), its version
// the row's `@odata.etag`, its modified time `modifiedon`. A lookup column
// appears under its logical name without the Web API's `_x_value` wrapping:
// `ownerid` = {"entity": "systemuser", "id": "<guid>"}; on upload it is
// written as `<navigation property>@odata.bind`.
//
// Cursors. An incremental cursor is the delta link itself (opaque, as the
// service's paging cookie is). A full pass's resume marker is a small JSON
// object holding the next link and the delta link the pass will end with.
// Without a filter the full pass itself asks for change tracking, so its
// last page carries the delta link; with a filter (which Dataverse refuses
// together with change tracking) the connector first takes a delta link by
// paging a track-changes request that selects only the key, before the
// filtered pass starts (DESIGN §7: a cursor is taken before the fetch, never
// after), so no change made during the pass is missed; the price is one
// extra pass over the table's keys per full pull.
//
// Idempotent creates. A create sends the device's id as the primary key. If
// the answer to a create is lost and it is retried, the service answers
// "duplicate key"; the connector then reads the record and reports it
// applied. A retried update whose first attempt was applied meets a stale
// ETag and is reported as a conflict carrying the server's record (which
// then holds the update's values), as the SDK contract asks of every stale
// update; the hub's conflict policy resolves it.
//
// It knows the Web API, not the hub: no store, no partitions.
package dynamicscrm
