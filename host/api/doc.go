// Package api is the hub's REST API (gin): device authentication, the
// device download path (sources, schema, changes, change events), the
// device upload path (mutations, sync errors and their resolution), the
// admin API that steers the pull and push pipelines (cursors, pulls,
// plugin restarts, dead letters), health checks and metrics. The
// contract is openapi.yaml, written first and served at /v1/openapi.yaml; a
// test holds the registered routes and the document to each other.
//
// The package must not know connectors or plugins: it never imports one
// and never calls a back end. It reaches the plugin host through Sources
// (names, schema, plugin state, restart) and the pull stage through Puller,
// both small interfaces defined here and satisfied by the hub's wiring, and
// reads the mirror only through host/store. Uploads, sync errors and the
// feed's "applied" go through Pusher (host/push): the API validates the
// HTTP shape and the caller's view of the source, push does the rest.
//
// Applied: the checkpoint also carries the seq up to which the device's
// applied mutations have been reported ("a"). A response lists those
// resolved at a seq above it and at most the seq the response covers (the
// last op delivered, or the source's seq at a consistent point), so a
// mutation is reported exactly when the device has the server's version
// of its record; has_more stays true while more of them follow.
//
// # Decisions
//
// Authentication: opaque random tokens (32 bytes, base64url) stored only as
// SHA-256 hex; the access token lives for the hub's access_token_ttl, the
// refresh token for refresh_token_ttl and is rotated on every use. Reusing
// a spent refresh token revokes every token of that login, so a stolen
// token and the device holding the original cannot both keep a session.
// Logout revokes every token of the calling device. Config users are
// copied into the store at start (SyncUsers); a user removed from the
// config is disabled and loses its tokens. Logins are rate limited per user
// name and client address (10 at once, then one per 6 s). A wrong user name
// costs the same bcrypt comparison as a wrong password.
//
// Visibility: a user sees a source only through its partitions (computed by
// host/partition from the config's rules and the user's identity on that
// source, as stored by SyncUsers). GET /v1/sources lists only sources where
// the user has at least one partition, and every other per-source route
// answers 404 for a source the user cannot see, exactly as for one that
// does not exist, so ids of other users' sources and partitions are never
// confirmed. The schema lists only the entities the user receives.
//
// Checkpoints: "<base64url(JSON payload)>.<base64url(HMAC-SHA256(key,
// payload part))>", the payload holding version, source, user id, device
// id, issue time and the seq reached per partition. A token whose MAC does
// not verify, or that names another user, device or source, is refused
// with 400 before anything is read. Partitions that appear in the user's
// subscription later start from 0; partitions that left it, whose seq is
// below the tombstone floor, or whose seq is above the source's (a database
// restored from a backup) are listed in reset (the device clears them; the
// latter two then follow from 0 in the same response).
//
// Streaming: the changes body is written op by op with a json.Encoder while
// the rows are read (flushed every 64 ops), gzip-compressed when the
// request allows. A failure after the first byte aborts the connection, so
// a device never receives a checkpoint for ops it did not get.
//
// Events: server-sent events from the hub's events.Hub. The API only
// subscribes; with several hub instances on PostgreSQL, host/events/pgnotify
// feeds that Hub the notices other instances commit (LISTEN/NOTIFY), so a
// stream hears of every change whichever instance made it.
package api
