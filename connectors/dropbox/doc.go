// Package dropbox is the synchub connector for Dropbox (API v2): a document
// store that holds the files of another source's records. An admin attaches
// it to a record source (`source "docs" { plugin = "dropbox" attach_to =
// "crm" }`, DESIGN §6), and the files it lists reach devices beside that
// source's records.
//
// # Folder convention
//
// Files live at <root>/<entity>/<record name>_<record id>/<file>, e.g.
// /synchub/account/Contoso Ltd_0a1b2c/Contract.pdf. The record id is the
// part of the folder name after its last underscore, the record name the
// part before (it may be empty: "_0a1b2c"); the entity is the folder's name
// as it is spelled on Dropbox. Anything else under the root (a file directly
// in an entity folder, a record folder without an underscore, a subfolder
// inside a record folder) is reported in FilePage.Orphans by path, never
// guessed onto a record.
//
// # File ids and deletions
//
// A file's id is its path_lower, the lower-cased path Dropbox itself
// compares paths by ("/synchub/account/contoso ltd_0a1b2c/contract.pdf"),
// not Dropbox's own "id:..." The reason is deletions: Dropbox reports a
// deletion as a {".tag":"deleted"} entry that has a path and no id, and a
// deleted folder as one entry for the folder, not one per file. A connector
// that keeps no state between calls (DESIGN §7) could not turn such a path
// into an "id:..."; with path ids it reports it as is, and the host removes
// the file with that id and every file under it (FilePage.Deleted). A move
// or rename is therefore a deletion plus a new file, which is also how
// list_folder/continue reports it; an overwrite keeps the id and changes
// Version (the rev). File.Hash is Dropbox's content_hash (see contenthash),
// not a plain SHA-256.
//
// # Listing
//
// ListFiles calls files/list_folder on the root (recursive, include_deleted)
// for cursor "" and files/list_folder/continue for any other cursor, one
// FilePage per Dropbox page. Every page carries Dropbox's cursor (wrapped
// with the root, so a cursor of another root is refused); the last page's
// cursor is the next incremental cursor, and an earlier page's resumes the
// listing. A cursor Dropbox resets (409 reset) or a root that has gone is
// sdk.ErrCursorExpired: the host lists again in full. A missing root is
// created on the first full listing.
//
// # Content
//
// ReadFile streams files/download's body straight through, asking for
// Offset and Length with a Range header. WriteFile uploads into the
// record's folder (created by the upload) with mode add and no autorename:
// a retried upload of the same bytes is a no-op, a different file of the
// same name is refused. Bodies up to 150 MiB go in one streamed
// files/upload; larger or unknown-sized ones through an upload session in
// 8 MiB chunks, each held in memory once so it can be retried. Content is
// verified against Dropbox's content_hash. File names with "/", "\", ".."
// or control characters are refused; non-ASCII names travel escaped in the
// Dropbox-API-Arg header (see headerjson).
//
// # Auth
//
// Either a long-lived access_token, or a refresh_token with the app's
// app_key (and app_secret unless it is a PKCE app): short-lived tokens are
// fetched from token_url and refreshed before they expire. The app needs
// the scopes files.metadata.read, files.content.read and
// files.content.write (and account_info.read for Check).
//
// The package knows Dropbox's wire format and the sdk types; it must not
// know the hub, and it has no record entities of its own (Schema refuses
// every entity; there is no Fetcher).
package dropbox
