// Package odata is the OData v4 client code that the OData back ends share
// (Dynamics CRM / Dataverse, Business Central, Creatio), written once:
//
//   - Filter translates an sdk/filter tree into `$filter` text, with the
//     literal forms OData wants (strings single-quoted, embedded quotes doubled,
//     GUIDs, datetimes and dates bare, numbers, booleans, null) and the
//     differences a Dialect declares: how a field is addressed (Dataverse
//     reads a lookup column as `_x_value`), whether `in` exists (it is sent
//     as an or-chain where not), OData 3 literal and function forms.
//   - Query builds `$select`, `$filter`, `$orderby`, `$expand`, `$top` and
//     `$count`, percent-encoded so the service reads what was meant.
//   - Pager reads a collection page by page: the same Prefer header
//     (`odata.maxpagesize`, `odata.track-changes`, annotations) on every
//     page, `@odata.nextLink` and `@odata.deltaLink` followed as opaque
//     links and never to another host (httpx's host policy refuses them
//     before anything, token included, is sent), rows decoded one at a time
//     from the stream (DecodePage), `$deletedEntity` rows reported as
//     deletions, `@odata.etag` read as the row's version.
//   - Batch writes a `$batch` multipart/mixed body (CRLF line endings,
//     change sets, Content-ID, `$n` references) and ReadBatch maps the
//     multipart answer, nested change set answers included, back to the
//     requests: a change set that failed as a whole, and the batch-level
//     400 that ends a batch sent without continue-on-error, are accounted
//     for request by request.
//   - ParseError and SDKError turn the OData JSON error body
//     `{"error":{"code","message"}}` (or an HTML page, or garbage) into a
//     clear *sdk.Error.
//   - PropertyReader streams one string property out of a JSON object
//     (a base64 document body) without holding it in memory.
//
// It knows OData and HTTP, not any one back end: whatever differs is data
// (Dialect, Prefer, headers) handed in by the connector. It never knows
// the hub, the store or a connector's entities.
package odata
