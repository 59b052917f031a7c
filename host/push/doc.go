// Package push is the third stage of the sync pipeline: it takes devices'
// offline edits (mutations), stores them durably, sends them to the back
// end exactly once, applies the entities' conflict policies and reports
// the outcome, applied or a sync error (DESIGN.md §5). An offline edit is
// never lost and never applied twice.
//
// # Accept
//
// Accept validates an upload against the source's schema and config and
// the caller's partitions (partition.ForUser), and stores the valid
// mutations, in one transaction with the River job that will push them,
// before it answers. Rejections carry a reason per mutation: unknown
// entity or field, a value of the wrong sdk type, a read-only entity or
// field, a missing base_version (updates and deletes of records the device
// did not create itself), a mutation id twice in one upload, a record
// outside the caller's partitions (a create must land in them too), a
// create whose id is another user's record. (device, mutation_id) is the
// permanent idempotency key: a re-send with the same content is accepted
// and changes nothing, other content under the same id is rejected. A
// record the device saw that has since left the mirror (deleted on the
// server, out of the filter) is still the caller's to edit while its
// tombstone in the caller's partitions is kept: the conflict policy
// decides, as it would had the edit arrived before the pull. A
// group is accepted only when the connector announces atomic batches and
// it fits one Upload, and is accepted or rejected whole; a group id names
// one set of mutations. An update's base version is followed through the
// device's own applied edits (the device had not downloaded their result
// yet), and the base version's fields are snapshot for the policies that
// need them (from the mirror, or the record history the store keeps for
// merge, device_wins_full and user_decides entities, removals included).
//
// # Ops: the unit of exactly once
//
// The push worker never sends a mutation as such: it freezes an op (table
// push_ops) in a transaction that also marks its mutations in flight, then
// sends it, then records its result in another transaction. The op's key
// (a UUID) is the mutation id the connector sees, and the op's content
// never changes once written (an op that carries one mutation as it was
// stored shares that mutation's fields instead of copying them:
// store.PushOp.SharedFields), so a re-send after a lost answer, a timeout,
// a crash or a restart is the same op under the same key, which the SDK
// contract makes idempotent. Whatever changes an op's content (a conflict
// resolution, lookups left for a second pass) replaces it with a new op and
// a new key, which happens only after the back end said the old one was not
// applied. One op per record is in flight at a time; later mutations of
// the record wait for it.
//
// Planning (one transaction; on PostgreSQL the waiting mutations are read
// FOR UPDATE SKIP LOCKED): a device's consecutive mutations of a record
// coalesce (create+update = create, update+update = update with merged
// fields, update+delete = delete, create+delete = nothing: both resolve
// no_effect and the device is told). Mutations of different devices are not
// coalesced: they go in order, each against its own base version, so one
// device's edit cannot silently override another's. A mutation whose
// lookup points to the device's own create waits until that create is
// applied and then carries the back end's id (creates keyed by the back
// end are mapped back through PushMutation.BackendID); if that create
// failed, it is blocked (a sync error) until the create is resolved.
// Creates that wait for each other through lookups go without those
// lookups, which a second pass sets. A delete waits while anything made
// before it points to its record.
//
// Sending: batches of the source's batch_size (default 100, at most 1000)
// capped by the connector's MaxBatchSize; parents first (config parents),
// oldest first; deletes last, children first; a group alone in one Atomic
// call. Ops planned apart are independent of each other (one op per record
// in flight), so UploadsInFlight (4) Upload calls may wait for their
// answers at once while another goroutine records the answers in the order
// the batches went, those that came in together in one transaction; a
// batch holding a delete waits for every call before it, so children are
// deleted first.
//
// A run plans in steps, so that planning overlaps the plugin's and the
// back end's work instead of preceding it: the first plan takes the
// oldest waiting mutations the first Upload calls carry, each later plan
// a few calls' worth while the batches already planned are on their way.
// A plan that sees only the first waiting mutations leaves to a plan that
// sees them all the deletes (sent children first), the groups (only such
// a plan knows every member) and creates that may wait for each other,
// each as it is (a blocked mutation stays blocked). A plan does not
// hand out again an op the run has on its way (an op a crash left in the
// table is due again), and it never runs at once with the recording of
// answers. A source's waiting mutations are read one status at a time
// along their index, so the reads do not grow with the mutations applied
// before.
// An op's fields travel as the JSON stored with it (sdk.Op.Raw), and the
// records answered come back as JSON (UploadRequest.RawResults): the hub
// decodes neither unless a conflict policy or a sync error needs them.
//
// # Results
//
// Each batch's results commit in one transaction: applied writes the back
// end's record to the mirror through store's ApplyBatch (the record is
// filtered, projected and placed exactly as a pull would:
// pull.MirrorRecords), so it gets a seq and reaches devices, and marks the
// mutations applied with that seq and the back end's id; the device's
// later mutations of the record based on the version it replaced move to
// the new one. A later send's answer may be the back end's replay of the
// first, lost, answer and so older than what the mirror learnt since (a
// pull, another op); then the mirror is left alone and Options.Refresh
// asks for a pull. A rejection naming MissingLookups re-sends the op
// without those fields and sets them in a second pass (up to three tries).
// A create refused because its id exists is a create/create conflict.
// Retry (or a failed call) waits max(Retry-After, backoff) and after
// MaxAttempts dead-letters the op: it is kept, since its effect is
// unknown, and an admin retry or keep_mine re-sends it under the same key;
// the record's later mutations wait for it. A failure never blocks other
// records, only what depends on it.
//
// # Conflicts
//
// decide applies the entity's policy to what an op met: a newer version
// (stale), no record (gone: deleted on the server), a record with the
// create's id (taken). server_wins: a sync error with the server's record,
// which is written to the mirror so the device converges. device_wins:
// the device's changed fields again, without the version precondition.
// device_wins_full: the device's whole record (base snapshot plus changes),
// also re-creating a record deleted on the server. last_write_wins:
// client_time against the server record's modified time decides between
// the two. user_decides: parked as a sync error; the device's later
// mutations of the record wait for the decision. merge: three-way against
// the base snapshot; disjoint field edits go out against the server's
// current version, an overlap falls back to tie_break (per field); without
// a base it is the tie_break policy. A field owner (server or device) wins
// its field whatever the policy; fields the device loses make the mutation
// a conflict even when the rest was applied. A delete has no fields to
// merge: merge uses tie_break. Changed fields alone cannot re-create a
// deleted record: only device_wins_full and keep_mine do. A conflict whose
// server record already holds the device's values is applied (a replay).
// Resolutions re-send at most three times; a record that keeps changing
// ends as a conflict.
//
// Groups are applied or failed whole: a failed group's mutations are sync
// errors with their ops' outcomes (no automatic conflict resolution inside
// a group), and resolving one resolves the group.
//
// # What the device sees
//
// Applied and no_effect mutations get a seq (AppliedSeq): the API lists
// them in the changes feed's "applied" once the response covers that seq,
// with the back end's id of a create it keyed itself. Every other resolved
// state is a sync error of the device that made the mutation (another
// device's or user's are never shown): conflict, rejected, not_found, dead
// (gave up delivering), blocked (waits for a failed dependency). keep_mine
// re-sends forced, take_server drops, merged sends the given fields
// against the server version shown.
//
// # Running
//
// One run per source at a time in a process (a request arriving during a
// run makes it go round once more); across hub instances on PostgreSQL a
// session advisory lock (store.TryLease "push:<source>") keeps one
// instance pushing a source. Runs are River jobs (v0.34.0): enqueued with
// each upload (transactionally), scheduled for the next retry, and swept
// periodically (ops left by a crashed instance, retries whose job was
// lost; old record history is pruned then). The queue's clients only poll
// (neither driver listens), and a job queued inside a transaction waits
// for the next poll: once an upload commits, and on Trigger, the pusher
// also queues the run through the client that works its jobs in this
// process (pull.ClientUser), which wakes that client at once. A process runs one River
// client: the hub passes the Pusher to pull.Options.Stages so its workers
// run on the pull scheduler's client (two clients would compete for River's
// leadership, and only the leader enqueues periodic jobs); Start runs a
// client of its own for a hub without the pull scheduler.
//
// Crash safety: an accepted mutation is committed before the answer; an op
// is committed before it is sent and its result after; a crash between the
// two re-sends the same op under the same key. No state another instance
// needs lives in memory.
//
// Wiring (host/hub):
//
//	pusher, err := push.New(push.Options{Store: st, Config: cfg, Client: sources.Client,
//		Schema: schemaOf, Describe: descOf, Logger: log, Metrics: reg,
//		Notify: events.Publish, Refresh: func(src string, ents []string) { _ = puller.Trigger(ctx, src, ents, false) }})
//	puller := pull.New(pull.Options{..., Stages: []pull.JobStage{pusher}})
//	api.New(api.Deps{..., Pusher: pusher})
//
// The package must not know about HTTP or plugins: it reaches connectors
// only through sdk.Client and the database only through host/store.
package push
