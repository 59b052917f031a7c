// Package dynamicscrm is the connector for Microsoft Dynamics 365 CRM
// (Customer Engagement) over the Dataverse Web API, OData v4. It syncs the
// tables an admin configures (account, contact, opportunity, custom
// tables): full pulls with the projection and the filter pushed down,
// incremental pulls through change tracking, uploads through `$batch`
// change sets with optimistic concurrency, and notes with documents as
// files. The OData mechanics (paging, delta links, `$batch`, error bodies,
// filter translation) live in connectors/odata; this package knows the
// Dataverse dialect of them.
//
// # Records
//
// A record's id is the table's primary key (a GUID, lower case), its
// version the row's `@odata.etag` (W/"<versionnumber>"), its modified time
// `modifiedon`. Columns are named by their logical names. A lookup column,
// which the Web API reads as `_x_value`, appears under its logical name
// without the underscores, as {"entity": <target table>, "id": <guid>}:
// `"ownerid": {"entity": "systemuser", "id": "…"}`. The target comes from
// the `lookuplogicalname` annotation the connector asks for, which is the
// only way to know it for customer and owner lookups. A config, a filter or
// a partition rule names the lookup the same way (`ownerid`), and a filter
// on it goes out as `_ownerid_value eq <guid>`. On upload a lookup is
// written as `<navigation property>@odata.bind: "/<entity set>(<guid>)"`,
// the navigation property read from the table's many-to-one relationships
// (custom lookups bind through their schema name), or derived by the
// platform's rule where that metadata is not served (ownerid,
// parentcustomerid_account, objectid_contact).
//
// # Cursors
//
// An incremental cursor is a delta link (`@odata.deltaLink`), kept opaque;
// mid-pass, the delta page's nextLink. A delta answer's changed rows become
// records and its `$deletedEntity` rows deletions; a delta token the
// service refuses as expired (ExpiredVersionStamp, after the organization's
// change-tracking retention, 7 days by default) becomes ErrCursorExpired
// and the host runs a full pass. A full pass's resume cursor is a small
// JSON object: the nextLink to resume at, whether the pass tracks changes,
// and the delta link taken before it (see below). A cursor of another
// organization, or one this connector did not make, is expired.
//
// Where the full pass's next incremental cursor comes from, for a table
// with change tracking:
//
//   - Without a filter the pass itself asks for change tracking
//     (`Prefer: odata.track-changes`, only `$select`), and its last page's
//     delta link is the cursor. The service anchors that link at the
//     version current when the pass's first request ran, so a change made
//     while later pages are read is in the next delta: the cursor is taken
//     before the fetch, as DESIGN §7 asks.
//   - With a filter, Dataverse refuses `$filter` together with change
//     tracking. Taking the cursor after the filtered pass would lose the
//     changes made during it, so before the pass starts the connector takes
//     a delta link by a track-changes read of the keys alone (a GUID per
//     row, 5000 rows a request), then runs the filtered pass. Its delta
//     link selects only the key, and a link is not to be edited; so when an
//     incremental pass meets rows without the projection's columns (the
//     service always sends the selected columns, null or not), it reads
//     those rows again by key with the projection ($filter on the key, 50
//     at a time). Later delta links, made from such a link, keep selecting
//     the key: the re-read happens on every incremental pass of that table,
//     for the changed rows only. Changes that arrive twice are harmless: an
//     unchanged version is not a change to the hub.
//
// A table without change tracking has no incremental feed: its full pass
// ends with no cursor, its schema says deletions are not tracked, and
// ListIDs serves the host's reconciliation. Enabling change tracking on
// synced tables is the recommended set-up.
//
// # Uploads
//
// Ops go out as one `$batch` (at most 1000 requests): an all-or-nothing
// group as one change set, other ops as requests of their own with
// continue-on-error, so one failure sinks nothing else. Writes ask for
// `return=representation`: an applied op returns the record as the server
// stored it.
//
//   - Create is a POST with the device's GUID as the primary key. Its answer
//     may be lost after the service applied it; the retry then meets
//     "duplicate key" (412), the connector reads the record and reports it
//     applied with the server's record. In an all-or-nothing group an
//     existing id is a conflict, unless the server holds the effect of every
//     op of the group (a group sent again after its answer was lost), which
//     is reported applied.
//   - Update is a PATCH with If-Match: the base version, or `*` for a forced
//     update (PATCH is an upsert: without it a record deleted on the server
//     would be re-created). 412 is a conflict carrying the server's current
//     record; a missing record is not_found.
//   - Delete is a DELETE, with If-Match when a base version is given; a
//     missing record is not_found (the host counts that as done).
//   - A lookup whose target does not exist is rejected with MissingLookups,
//     so the host can send the op without it and set it in a second pass.
//   - Throttling (429) and 5xx answers are retry, with the service's
//     Retry-After; a throttled `$batch` as a whole is retried by the HTTP
//     client (sdk/httpx) and, beyond its patience, fails the call as
//     throttled.
//   - A change set that fails without saying which request failed is
//     diagnosed by reading the group's records: the op whose precondition
//     the server contradicts gets its own outcome, the others are rejected
//     as not applied.
//
// # Files
//
// Notes (annotation) with isdocument = true are files: listed through
// change tracking on annotations without their bodies, the record being
// objecttypecode + _objectid_value; read by streaming `documentbody` out of
// the JSON through a base64 decoder (an offset skips base64 text without
// decoding it); written as a new note on the record, the content
// base64-encoded as it streams into the request body.
//
// It knows the Web API, not the hub: no store, no partitions, no config
// beyond its own source's.
package dynamicscrm
