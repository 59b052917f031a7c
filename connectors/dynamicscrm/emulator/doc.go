// Package emulator is an in-memory fake of the Microsoft Dataverse Web API
// (Dynamics 365 CE / CRM) that behaves like the service on the wire, so the
// dynamicscrm connector, its tests, the benchmarks and the demo can run
// without a tenant. It serves:
//
//   - the Entra ID client-credentials token endpoint
//     (POST /{tenant}/oauth2/v2.0/token) with the identity platform's error
//     shape (AADSTS7000215 invalid_client, AADSTS700016, AADSTS1002012, …);
//   - /api/data/v9.0|v9.1|v9.2: WhoAmI, EntityDefinitions (+ Attributes),
//     $metadata, the entity sets accounts, contacts, opportunities,
//     annotations, systemusers, businessunits and products (the
//     organisation-owned catalogue, seeded with a few items) with $select, $filter,
//     $orderby, $top, $count, server-driven paging (odata.maxpagesize and a
//     $skiptoken paging cookie), change tracking (odata.track-changes,
//     $deltatoken, $deletedEntity), create/upsert/update/delete with
//     optimistic concurrency, @odata.bind lookups and $batch with atomic
//     change sets;
//   - service-protection throttling (429 + Retry-After), latency and fault
//     injection, and an unauthenticated /_emulator admin API.
//
// Where the service is strict the emulator is strict too ($skip, the "in"
// operator, unknown properties, track-changes with $filter, stale ETags,
// expired delta tokens). Behaviour follows these documents:
//
//   - Compose HTTP requests and handle errors:
//     https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
//   - Page results: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results
//   - Filter rows: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
//   - Query data (no $skip): https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-data-web-api
//   - Change tracking: https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems
//   - Batch operations: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
//     and OData 4.0 §11.7 https://docs.oasis-open.org/odata/odata/v4.0/errata03/os/complete/part1-protocol/odata-v4.0-errata03-os-part1-protocol-complete.html#_Toc453752313
//   - Conditional operations: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
//   - Create / update / delete and lookups: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api,
//     https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api
//   - Service protection limits: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
//   - WhoAmI: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/whoami
//   - Table definitions: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api
//   - Error codes (ObjectDoesNotExist 0x80040217, DuplicateRecord 0x80040237,
//     ConcurrencyVersionMismatch 0x80060882, ExpiredVersionStamp 0x80044352):
//     https://learn.microsoft.com/power-apps/developer/data-platform/org-service/web-service-error-codes
//     and https://learn.microsoft.com/power-apps/developer/data-platform/org-service/metadata-retrieve-detect-changes
//   - Identity platform errors: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
//     and the client credentials flow https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//
// Documented gaps are filled from observed service behaviour: "Skip Clause
// is not supported in CRM" (0x80060888), "The query node In is not
// supported" (501, 0x8006088a) and the expired delta token answered as
// ExpiredVersionStamp ("Version stamp associated with the client has
// expired. Please perform a full sync.", 400).
//
// The package must not know the connector or the hub: it is a stand-alone
// protocol fake, listening on 127.0.0.1 only.
package emulator
