// Package files is the file stage of the sync pipeline (DESIGN.md §6): it
// mirrors the file metadata connectors list, decides which files devices
// fetch eagerly, streams content to devices and takes files devices upload.
//
// # Metadata: files ride the records' feed
//
// Every source whose connector lists files (sdk.FileLister) is listed
// with ListFiles. A document store (`attach_to = "crm"`) lists for another
// source: its record refs resolve in "crm" and its files join "crm"'s feed
// beside the CRM's own attachments; any other source lists for itself.
// Each file is stored in store.File and mirrored as a record of the
// pseudo-entity "_file" (store.FileEntity) in that feed source, with the
// partition of its record, so the changes feed streams it in seq order
// with everything else and a file whose record a device cannot see never
// reaches that device. The record's id is store.FileMirrorID: the listing
// source and a digest of the connector's file id ("docs:3q2-7w..."),
// stable and safe in a URL. Its fields are
//
//	{"name", "size", "mime_type", "modified_at", "hash", "version",
//	 "record": {"entity", "id"}, "source", "mode", "status"}
//
// mode is "eager" (fetch during sync) or "on_demand" (fetch when opened);
// status says why: "ok", "filtered" (suffix not in the entity's list),
// "too_large" (above max_size) or "quota_exceeded".
//
// A record that changes partition (an owner move) or is removed takes its
// files along in the same transaction: store.ApplyBatch calls the store's
// follow hook for every record it inserts, moves or removes, which gives
// the record's files a REMOVE in the old partition and a PUT in the new
// one, exactly like the record. Doing it there, rather than after a pull
// or at the next listing, covers pulls, pushes and reconciliation alike
// and leaves no moment where a file is visible without its record.
// ApplyFiles takes the feed source's seq lock before it reads record
// partitions, so a listing and a pull of the same source cannot interleave
// into a file left in a stale partition. A file whose record is not in the
// mirror (unknown, deleted, filtered out) or whose entity the feed source
// does not configure is in no partition and is reported by the admin API
// (GET /v1/admin/sources/{source}/files/problems) together with the paths
// a connector reported outside its record convention (orphans).
//
// # Listing
//
// Listings are incremental from the cursor the connector gave (kept in
// store.FileSource after the page that produced it commits). Cursor ""
// means a full listing: each page is stamped with the listing's pass
// number and the last page removes every file and orphan the pass did not
// see (reconciliation); an interrupted full listing resumes from its last
// page's cursor. sdk.ErrCursorExpired, a change of the feed source's blob
// filters or entities (rules hash) and an admin request start a full
// listing. Deleted ids remove the file with that id and, for document
// stores, every file under it ("<id>/..."), as sdk.FilePage documents; a
// move is a deletion plus a new file. Listings run as River jobs: one
// periodic job per listing source at the source's interval (the same
// scheduler client as pulls, see pull.JobStage), one on admin demand (POST
// /v1/admin/sources/{source}/files/sync). On PostgreSQL a source is listed
// by one hub instance at a time (lease "files:<source>").
//
// # Blob filters and quota
//
// The feed source's entity's `files` block decides a file's rule: without
// one, on demand; with mode "eager", eager unless its suffix is not listed
// (filtered) or it is larger than max_size (too_large). The quota is
// enforced by the hub in the feed itself, not per request: a user
// subscribes to exactly one partition per entity and files sit in their
// record's partition, so a partition's budget is exactly a device's budget
// for that entity. Whenever a partition's files change, its eager files
// are taken newest first (ties by id) and each one that still fits in the
// quota stays eager; one that does not becomes on_demand with status
// "quota_exceeded", which the device reads as a status on that file, not
// as an error of the sync. Files whose state changes that way get a new
// PUT, so the eager bytes a device is told to fetch never exceed the
// quota. On-demand fetches are the user's explicit choice and are not
// counted.
//
// # Content
//
// Open streams through the listing source's ReadFile (sdk.Client), from an
// offset, never holding a file in memory; the API adds ETag, Range and
// the headers. A file the back end no longer has (sdk.CodeNotFound) is
// Lost: removed from the mirror, so devices get a REMOVE. An optional
// on-disk cache (Options.CacheDir, CacheBytes) keeps whole files keyed by
// a digest of the listing source and the file's hash (or id and version),
// evicting the least recently used; it is filled only by whole-file reads
// of the version listed.
//
// # Uploads
//
// Upload spools a device's body to Options.SpoolDir (fsync, then rename),
// then stores the upload row and its River job in one transaction before
// the API answers 202: an accepted upload survives a crash. The job runs
// on a queue of this hub instance, which holds the spool, and streams the
// file to WriteFile of the source that stores files for the record's
// source (the first configured document store attached to it that can
// write files, else that source itself), into the record's folder (the
// folder name its other files have, else the record's "name" field).
// Transient failures are retried with backoff (1s doubling to 10m, or the
// back end's Retry-After), up to Options.MaxAttempts; a permanent refusal
// or the last attempt marks the upload failed. The written file is
// mirrored at once, in the transaction that marks the upload done, so
// other devices see it in their next sync.
//
// The package must not know HTTP or connectors: it reaches back ends only
// through sdk.Client and the database only through host/store.
package files
