// Package odata is the OData v4 client code the OData back ends share
// (Dynamics CRM / Dataverse, Business Central, Creatio): translating the
// sdk/filter AST to `$filter` with correct literal quoting, building queries,
// paging with `Prefer: odata.maxpagesize` and opaque `@odata.nextLink`s,
// delta links and `$deletedEntity` rows, streaming page decoding (one record
// at a time, never a whole page as a generic tree), `$batch` multipart
// requests with change sets, and the JSON error body.
//
// It knows OData, not any one back end: a Dialect carries what differs
// (how lookup fields are addressed, whether `in` exists). It never knows
// about the hub.
package odata
