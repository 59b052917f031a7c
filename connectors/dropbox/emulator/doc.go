// Package emulator is an in-memory fake of the Dropbox API v2 that behaves
// like the service on the wire, so the dropbox connector, its tests, the
// benchmarks and the demo run without a Dropbox account. One listener serves
// what Dropbox splits over three hosts: the OAuth token endpoint, the RPC
// routes (api.dropboxapi.com) and the content routes (content.dropboxapi.com):
//
//   - POST /oauth2/token, grant_type=refresh_token, answering short-lived
//     "sl." bearer tokens; the static Options.AccessToken ("synchub-dev")
//     is accepted as well and never expires;
//   - users/get_current_account (a route without arguments: no body);
//   - files/list_folder (path, recursive, include_deleted, limit 1..2000),
//     files/list_folder/continue and files/list_folder/get_latest_cursor: a
//     cursor is a position in the server's change log, so continue later
//     answers the changes since, deletions as {".tag":"deleted"} entries
//     without an id, one per deleted file or folder (a folder's children are
//     not listed again); ExpireCursors makes old cursors answer 409 reset;
//   - files/get_metadata, files/create_folder_v2 and files/delete_v2;
//   - files/download (POST or GET, Dropbox-API-Arg header or arg URL
//     parameter, Dropbox-API-Result header, Range requests answered 206,
//     ETag W/"<rev>");
//   - files/upload (mode add, overwrite or update with a rev, autorename,
//     strict_conflict, content_hash, at most 150 MiB per call) and
//     files/upload_session/start, append_v2 and finish for larger files;
//   - 429 with Retry-After and the JSON body when over Options.RequestBudget,
//     and injected faults (500s, garbage, a file lost between listing and
//     download).
//
// Where the service is strict the emulator is strict too: Dropbox-API-Arg
// must be HTTP-header-safe JSON (non-ASCII escaped as \uXXXX), RPC bodies
// must be JSON with the right Content-Type, routes without arguments take
// no body, unknown fields are refused, and such malformed calls get a 400
// in plain text ("Error in call to API function "files/upload": ..."), never
// JSON. Paths are case-insensitive (matched by path_lower), and entries look
// like the documented examples: ids "id:...", revs in hex, times in UTC
// without fractions, content_hash per the content hash reference.
//
// Content of seeded and uploaded files is held in memory. PutLargeFile adds
// a file whose bytes are generated from its path and offset on the fly
// (Generated), so a multi-gigabyte file costs no memory and its
// content_hash needs hashing only one block.
//
// Behaviour follows these documents:
//
//   - HTTP API reference (formats, errors, every route named above):
//     https://www.dropbox.com/developers/documentation/http/documentation
//     (#files-list_folder, #files-list_folder-continue,
//     #files-list_folder-get_latest_cursor, #files-download, #files-upload,
//     #files-upload_session-start, #files-upload_session-append_v2,
//     #files-upload_session-finish, #files-delete_v2, #files-get_metadata,
//     #files-create_folder_v2, #users-get_current_account)
//   - JSON encoding of header arguments: https://www.dropbox.com/developers/reference/json-encoding
//     and dropbox-sdk-go's HTTPHeaderSafeJSON:
//     https://github.com/dropbox/dropbox-sdk-go-unofficial/blob/master/v6/dropbox/sdk.go
//   - Content hash: https://www.dropbox.com/developers/reference/content-hash
//   - Error handling (400 plain text, 401, 409 endpoint errors, 429 with
//     retry_after): https://developers.dropbox.com/error-handling-guide
//   - Detecting changes (cursors, deleted entries, reset):
//     https://developers.dropbox.com/detecting-changes-guide
//   - OAuth refresh tokens: https://developers.dropbox.com/oauth-guide
//
// The package must not know the connector or the hub: it is a stand-alone
// protocol fake, listening on 127.0.0.1 unless told otherwise.
package emulator
