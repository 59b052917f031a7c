package push

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// lookupPasses bounds the second passes of one op whose lookup targets do
// not appear.
const lookupPasses = 3

// recorder records answered batches' results inside one transaction. What it
// publishes (change notices, metrics) waits for the commit.
type recorder struct {
	r   *runner
	tx  *store.PushTx
	now time.Time

	muts      map[int64][]store.PushMutation // in-flight mutations by op, loaded with their batches
	parts     map[string]bool
	refresh   map[string]bool // entities to pull
	lastSeq   int64
	counts    map[string]int
	latencies []time.Duration

	// What flush writes at the end of the batch.
	mirror     map[string]*mirrorWrites // by entity
	anyApplied bool                     // a mutation was applied: the batch needs a seq
	doneOps    []int64                  // ops applied, to delete
	// Applied mutations whose status flushStatuses has not written yet,
	// and those it wrote before the batch's seq was known.
	unflushed, early     []int64
	backendIDs, versions map[int64]string
	rebases              []rebaseReq
}

// rebaseReq is a record whose op was applied at version: the device's
// waiting mutations of it (known by any of ids) based on one of bases move
// to version.
type rebaseReq struct {
	dev     int64
	entity  string
	ids     []string
	bases   []string
	version string
}

// reset forgets what a failed (retried) transaction noted.
func (rc *recorder) reset() {
	rc.parts, rc.lastSeq, rc.counts, rc.latencies = map[string]bool{}, 0, map[string]int{}, nil
	rc.refresh = map[string]bool{}
	rc.mirror, rc.anyApplied, rc.doneOps = map[string]*mirrorWrites{}, false, nil
	rc.unflushed, rc.early, rc.backendIDs, rc.versions = nil, nil, map[int64]string{}, map[int64]string{}
	rc.rebases, rc.muts = nil, nil
}

// load reads a batch's in-flight mutations: those of ops the run's plans
// froze come from the plan (runner.carried), the others from the store.
func (rc *recorder) load(batch []store.PushOp) error {
	if rc.muts == nil {
		rc.muts = make(map[int64][]store.PushMutation, len(batch))
	}
	var ids []int64
	for _, op := range batch {
		if m, ok := rc.r.carried[op.ID]; ok {
			rc.muts[op.ID] = slices.Clone(m)
			continue
		}
		ids = append(ids, op.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	read, err := rc.tx.MutationsOfOps(ids)
	maps.Copy(rc.muts, read)
	return err
}

// mutsOf returns an op's in-flight mutations.
func (rc *recorder) mutsOf(opID int64) ([]store.PushMutation, error) {
	if m, ok := rc.muts[opID]; ok {
		return m, nil
	}
	return rc.tx.MutationsOfOp(opID)
}

// published runs after the commit.
func (rc *recorder) published() {
	src := rc.r.src.Name
	for outcome, n := range rc.counts {
		rc.r.p.m.count(src, outcome, n)
	}
	for _, d := range rc.latencies {
		rc.r.p.m.latency.WithLabelValues(src).Observe(d.Seconds())
	}
	if rc.r.p.opts.Notify != nil && len(rc.parts) > 0 {
		rc.r.p.opts.Notify(src, sortedKeys(rc.parts), rc.lastSeq)
	}
	if len(rc.refresh) > 0 {
		rc.r.log.Debug("an answer may be older than the mirror: pulling", "entities", sortedKeys(rc.refresh))
		if rc.r.p.opts.Refresh != nil {
			rc.r.p.opts.Refresh(src, sortedKeys(rc.refresh))
		}
	}
}

func (rc *recorder) note(br store.BatchResult) {
	for _, p := range br.Partitions {
		rc.parts[p] = true
	}
	rc.lastSeq = max(rc.lastSeq, br.LastSeq)
}

func (rc *recorder) resolved(outcome string, muts []store.PushMutation) {
	rc.counts[outcome] += len(muts)
	for _, m := range muts {
		if !m.CreatedAt.IsZero() {
			rc.latencies = append(rc.latencies, rc.now.Sub(m.CreatedAt))
		}
	}
}

// result records one op's result.
func (rc *recorder) result(op store.PushOp, results map[string]sdk.OpResult) error {
	res, ok := results[op.Key]
	if !ok {
		return rc.transient([]store.PushOp{op}, "the connector returned no result for this op", 0)
	}
	muts, err := rc.mutsOf(op.ID)
	if err != nil {
		return err
	}
	if len(muts) == 0 {
		// Resolved meanwhile (a discarded dead letter): nothing waits.
		return rc.tx.DeleteOps(op.ID)
	}
	switch res.Status {
	case sdk.StatusApplied:
		return rc.applied(op, muts, res)
	case sdk.StatusConflict:
		if op.Kind == string(sdk.OpCreate) {
			return rc.conflict(op, muts, res.Record, taken)
		}
		return rc.conflict(op, muts, res.Record, stale)
	case sdk.StatusNotFound:
		switch sdk.OpKind(op.Kind) {
		case sdk.OpDelete:
			// The record is gone, which is what the delete wanted.
			return rc.applied(op, muts, sdk.OpResult{Status: sdk.StatusApplied, ID: op.RecordID})
		case sdk.OpUpdate:
			return rc.conflict(op, muts, nil, gone)
		}
		return rc.fail(op, muts, store.MutationRejected, messageOr(res.Message, "the back end found no record"), nil, nil, false)
	case sdk.StatusRejected:
		return rc.rejected(op, muts, res)
	case sdk.StatusRetry:
		return rc.transient([]store.PushOp{op}, messageOr(res.Message, "the back end asked to retry"), res.RetryAfter)
	}
	return rc.transient([]store.PushOp{op}, fmt.Sprintf("the connector answered an unknown status %q", res.Status), 0)
}

// group records the results of an atomic group: applied or failed as a
// whole.
func (rc *recorder) group(batch []store.PushOp, results map[string]sdk.OpResult) error {
	allApplied := true
	var wait time.Duration
	for _, op := range batch {
		res, ok := results[op.Key]
		switch {
		case !ok:
			return rc.transient(batch, "the connector returned no result for an op of the group", 0)
		case res.Status == sdk.StatusRetry:
			return rc.transient(batch, messageOr(res.Message, "the back end asked to retry"), max(wait, res.RetryAfter))
		case res.Status != sdk.StatusApplied:
			allApplied = false
		}
	}
	if allApplied {
		for _, op := range batch {
			if err := rc.result(op, results); err != nil {
				return err
			}
		}
		return nil
	}
	// The group failed: each of its mutations becomes a sync error with
	// its op's own outcome; a resolution of one resolves the group.
	for _, op := range batch {
		res := results[op.Key]
		muts, err := rc.mutsOf(op.ID)
		if err != nil {
			return err
		}
		if len(muts) == 0 {
			if err := rc.tx.DeleteOps(op.ID); err != nil {
				return err
			}
			continue
		}
		prefix := fmt.Sprintf("group %q failed: ", muts[0].GroupID)
		switch res.Status {
		case sdk.StatusApplied:
			// A connector that broke the all-or-nothing promise: the
			// back end holds this one, so it is applied.
			if err := rc.applied(op, muts, res); err != nil {
				return err
			}
		case sdk.StatusConflict:
			if err := rc.serverRecord(op, res.Record); err != nil {
				return err
			}
			if err := rc.fail(op, muts, store.MutationConflict, prefix+messageOr(res.Message, "the record changed on the server"), res.Record, nil, false); err != nil {
				return err
			}
		case sdk.StatusNotFound:
			if err := rc.fail(op, muts, store.MutationNotFound, prefix+messageOr(res.Message, "the record was deleted on the server"), nil, nil, false); err != nil {
				return err
			}
		default:
			if err := rc.fail(op, muts, store.MutationRejected, prefix+messageOr(res.Message, "refused by the back end"), nil, nil, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// applied queues the back end's record for the mirror (flush writes it:
// a seq, partition items, devices receive it) and marks the op's mutations
// applied, or sends the second pass of a two-pass op.
func (rc *recorder) applied(op store.PushOp, muts []store.PushMutation, res sdk.OpResult) error {
	src := rc.r.src
	var err error
	id := res.ID
	if id == "" {
		id = op.RecordID
	}
	// A later send's answer may be the back end's replay of the answer to
	// the first send, which was lost: if the mirror learnt anything of the
	// record since (a pull, another op), that answer may be older than
	// what it knows. The mirror then stays as it is and a pull settles it.
	stale := false
	if op.SentSeq != 0 {
		if stale, err = rc.tx.TouchedSince(src.Name, op.Entity, id, op.SentSeq); err != nil {
			return err
		}
		if stale {
			rc.refresh[op.Entity] = true
		}
	}
	// The mirror write waits for the end of the batch (flush): one write
	// per entity instead of one per op.
	switch {
	case stale:
	case op.Kind == string(sdk.OpDelete):
		rc.queueMirror(op.Entity, nil, id)
	case res.Record != nil:
		rec := *res.Record
		rec.ID = id
		rc.queueMirror(op.Entity, &rec, "")
	}
	version := ""
	if res.Record != nil {
		version = res.Record.Version
	}

	if err := rc.rebase(op, muts, id, version); err != nil {
		return err
	}

	if len(op.Deferred) > 0 && !op.SecondPass && op.Kind != string(sdk.OpDelete) {
		deferred, err := decodeFields(op.Deferred)
		if err != nil {
			return fmt.Errorf("op %d: deferred fields: %w", op.ID, err)
		}
		if err := rc.resolveLookups(muts[0].DeviceID, deferred); err != nil {
			return err
		}
		next := store.PushOp{Source: src.Name, Key: newOpKey(), Entity: op.Entity, Kind: string(sdk.OpUpdate),
			RecordID: id, BaseVersion: version, Fields: encodeFields(deferred), SecondPass: true, Lost: op.Lost,
			Resends: op.Resends, NextAttemptAt: rc.now, CreatedAt: rc.now}
		cols := map[string]any{}
		if op.Kind == string(sdk.OpCreate) {
			cols["backend_id"] = id
		}
		return rc.replace(op, muts, &next, cols)
	}

	var lost []string
	if len(op.Lost) > 0 {
		_ = json.Unmarshal(op.Lost, &lost)
	}
	// applied_seq is set by flush, once the mirror has been written.
	if len(lost) > 0 {
		cols := map[string]any{"status": store.MutationConflict, "backend_id": id, "op_id": 0, "parked": false,
			"reason":          fmt.Sprintf("the server's values of %s were kept; the device's other changes were applied", strings.Join(lost, ", ")),
			"conflict_fields": mustJSON(lost), "server_record": recordJSON(res.Record)}
		if err := rc.tx.UpdateMutations(mutIDs(muts), cols); err != nil {
			return err
		}
		rc.resolved(outConflicted, muts)
		rc.doneOps = append(rc.doneOps, op.ID)
		return nil
	}
	// The status waits for flushStatuses, with the batch's others.
	for _, m := range muts {
		rc.backendIDs[m.ID], rc.versions[m.ID] = id, version
	}
	rc.anyApplied = true
	rc.unflushed = append(rc.unflushed, mutIDs(muts)...)
	rc.resolved(outApplied, muts)
	rc.doneOps = append(rc.doneOps, op.ID)
	return nil
}

// flushStatuses marks the mutations applied since the last flush, each
// with its back-end id and version, in one UPDATE per chunk; with seq, the
// seq at which a device has them too (flush knows it once the mirror is
// written).
func (rc *recorder) flushStatuses(seq int64) error {
	if len(rc.unflushed) == 0 {
		return nil
	}
	backend, version := map[int64]any{}, map[int64]any{}
	for _, id := range rc.unflushed {
		backend[id], version[id] = rc.backendIDs[id], rc.versions[id]
	}
	cols := map[string]any{"status": store.MutationApplied, "op_id": 0, "resolved_at": rc.now, "reason": "", "parked": false}
	if seq > 0 {
		cols["applied_seq"] = seq
	} else {
		rc.early = append(rc.early, rc.unflushed...)
	}
	err := rc.tx.UpdateMutationsEach(rc.unflushed, cols,
		map[string]map[int64]any{"backend_id": backend, "result_version": version})
	rc.unflushed = nil
	return err
}

// mirrorWrites are an entity's records (and deletions) answered by the
// back end in one batch, written to the mirror together by flush.
type mirrorWrites struct {
	recs    []sdk.Record
	removes []string
}

func (rc *recorder) queueMirror(entity string, rec *sdk.Record, remove string) {
	w := rc.mirror[entity]
	if w == nil {
		w = &mirrorWrites{}
		rc.mirror[entity] = w
	}
	if rec != nil {
		w.recs = append(w.recs, *rec)
	}
	if remove != "" {
		w.removes = append(w.removes, remove)
	}
}

// flush ends a batch's recording: the applied records reach the mirror
// with one write per entity (a seq each, partition items: devices receive
// them), the applied mutations get the seq at which a device has them,
// and the applied ops are deleted.
func (rc *recorder) flush() error {
	src := rc.r.src
	var seq int64
	for _, entity := range sortedKeys(rc.mirror) {
		w := rc.mirror[entity]
		ent, es, err := rc.r.entity(entity)
		if err != nil {
			return err
		}
		puts, removes, err := pull.MirrorRecords(src, ent, es, w.recs)
		if err != nil {
			return fmt.Errorf("mirror the records the back end answered for %s: %w", entity, err)
		}
		br, err := rc.tx.ApplyMirror(store.Batch{Source: src.Name, Entity: entity, Put: puts, Remove: append(removes, w.removes...)})
		if err != nil {
			return err
		}
		rc.note(br)
		seq = max(seq, br.LastSeq)
	}
	if rc.anyApplied && seq == 0 {
		// Nothing new in the mirror (no record returned, or the mirror
		// had it already): a seq of its own still tells the device.
		var err error
		if seq, err = rc.tx.TakeSeq(src.Name); err != nil {
			return err
		}
	}
	if err := rc.flushStatuses(seq); err != nil {
		return err
	}
	if err := rc.tx.UpdateMutations(rc.early, map[string]any{"applied_seq": seq}); err != nil {
		return err
	}
	if err := rc.flushRebases(); err != nil {
		return err
	}
	return rc.tx.DeleteOps(rc.doneOps...)
}

// rebase notes that the device's later mutations of the record, based on
// the version this op replaced (or on nothing: its own create), move to the
// new version; flushRebases moves them at the end of the batch.
func (rc *recorder) rebase(op store.PushOp, muts []store.PushMutation, id, version string) error {
	if version == "" || op.Kind == string(sdk.OpDelete) {
		return nil
	}
	// Most ops carry one mutation: slices, not maps, hold the few ids
	// and bases.
	for i, m := range muts {
		if slices.ContainsFunc(muts[:i], func(o store.PushMutation) bool { return o.DeviceID == m.DeviceID }) {
			continue // the device's request is made
		}
		rq := rebaseReq{dev: m.DeviceID, entity: op.Entity, ids: []string{id}, bases: []string{"", op.BaseVersion}, version: version}
		rq.ids = appendNew(rq.ids, op.RecordID)
		for _, o := range muts[i:] {
			if o.DeviceID == m.DeviceID {
				rq.ids, rq.bases = appendNew(rq.ids, o.RecordID), appendNew(rq.bases, o.BaseVersion)
			}
		}
		rc.rebases = append(rc.rebases, rq)
	}
	return nil
}

// appendNew appends s to list unless it holds it.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// flushRebases moves the waiting mutations the batch's rebases name: one
// query per device and entity for what waits, and one UPDATE per chunk of
// those that move. Most applied records have nothing waiting.
func (rc *recorder) flushRebases() error {
	if len(rc.rebases) == 0 {
		return nil
	}
	byKey := map[devEntity][]*rebaseReq{}
	var keys []devEntity
	for i := range rc.rebases {
		rq := &rc.rebases[i]
		k := devEntity{rq.dev, rq.entity}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], rq)
	}
	moves := map[int64]any{}
	for _, k := range keys {
		reqs := byKey[k]
		byID := make(map[string]*rebaseReq, 2*len(reqs))
		for _, rq := range reqs {
			for _, id := range rq.ids {
				byID[id] = rq
			}
		}
		waiting, err := rc.tx.Waiting(rc.r.src.Name, k.dev, k.entity, slices.Sorted(maps.Keys(byID)))
		if err != nil {
			return err
		}
		for _, m := range waiting {
			if rq, ok := byID[m.RecordID]; ok && slices.Contains(rq.bases, m.BaseVersion) {
				moves[m.ID] = rq.version
			}
		}
	}
	rc.rebases = nil
	if len(moves) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(moves))
	return rc.tx.UpdateMutationsEach(ids, nil, map[string]map[int64]any{"base_version": moves})
}

// rejected handles a permanent refusal; refused lookups get two passes.
func (rc *recorder) rejected(op store.PushOp, muts []store.PushMutation, res sdk.OpResult) error {
	msg := messageOr(res.Message, "refused by the back end")
	if len(res.MissingLookups) > 0 && op.Kind != string(sdk.OpDelete) {
		fields, err := decodeFields(op.Fields)
		if err != nil {
			return fmt.Errorf("op %d: stored fields: %w", op.ID, err)
		}
		deferred := map[string]any{}
		if len(op.Deferred) > 0 {
			if deferred, err = decodeFields(op.Deferred); err != nil {
				return fmt.Errorf("op %d: deferred fields: %w", op.ID, err)
			}
		}
		moved := 0
		for _, f := range res.MissingLookups {
			if v, ok := fields[f]; ok {
				deferred[f] = v
				delete(fields, f)
				moved++
			}
		}
		dev := muts[0].DeviceID
		switch {
		case op.SecondPass && op.Attempts+1 < lookupPasses:
			// The targets may still come (a later batch, another pull):
			// try again, with ids mapped as they are now.
			if err := rc.resolveLookups(dev, fields); err != nil {
				return err
			}
			a := op.Attempts + 1
			next := store.PushOp{Source: op.Source, Key: newOpKey(), Entity: op.Entity, Kind: op.Kind, RecordID: op.RecordID,
				BaseVersion: op.BaseVersion, Fields: encodeFields(fields), SecondPass: true, Lost: op.Lost, Resends: op.Resends,
				Attempts: a, NextAttemptAt: rc.now.Add(rc.r.p.opts.Backoff(a)), CreatedAt: rc.now}
			if moved > 0 {
				// Second pass: the lookups are all it carries.
				maps.Copy(fields, deferred)
				if err := rc.resolveLookups(dev, fields); err != nil {
					return err
				}
				next.Fields = encodeFields(fields)
			}
			return rc.replace(op, muts, &next, nil)
		case !op.SecondPass && moved > 0:
			next := store.PushOp{Source: op.Source, Key: newOpKey(), Entity: op.Entity, Kind: op.Kind, RecordID: op.RecordID,
				BaseVersion: op.BaseVersion, Fields: encodeFields(fields), Deferred: encodeFields(deferred), Lost: op.Lost,
				Resends: op.Resends, NextAttemptAt: rc.now, CreatedAt: rc.now}
			if op.Kind == string(sdk.OpUpdate) && len(fields) == 0 {
				// Nothing but the lookups: wait for the targets.
				if err := rc.resolveLookups(dev, deferred); err != nil {
					return err
				}
				next.Fields, next.Deferred, next.SecondPass = encodeFields(deferred), nil, true
				next.Attempts, next.NextAttemptAt = 1, rc.now.Add(rc.r.p.opts.Backoff(1))
			}
			return rc.replace(op, muts, &next, nil)
		}
		msg = fmt.Sprintf("lookup targets not found (%s): %s", strings.Join(res.MissingLookups, ", "), msg)
	}
	if op.Kind == string(sdk.OpCreate) && len(res.MissingLookups) == 0 {
		// A create refused because its id is taken is a create/create
		// conflict: the entity's policy decides.
		rec, found, err := rc.tx.MirrorRecord(rc.r.src.Name, op.Entity, op.RecordID)
		if err != nil {
			return err
		}
		if found {
			server, err := mirrorToRecord(rec)
			if err != nil {
				return err
			}
			return rc.conflict(op, muts, server, taken)
		}
	}
	return rc.fail(op, muts, store.MutationRejected, msg, nil, nil, false)
}

// transient records a failure that may pass: each op waits (the back end's
// Retry-After, or the backoff) and is dead-lettered after MaxAttempts.
func (rc *recorder) transient(batch []store.PushOp, msg string, after time.Duration) error {
	for _, op := range batch {
		muts, err := rc.mutsOf(op.ID)
		if err != nil {
			return err
		}
		a := op.Attempts + 1
		if a >= rc.r.p.opts.MaxAttempts {
			if err := rc.tx.UpdateOp(op.ID, map[string]any{"attempts": a, "dead": true, "last_error": msg}); err != nil {
				return err
			}
			if err := rc.tx.UpdateMutations(mutIDs(muts), map[string]any{"status": store.MutationDead,
				"reason": fmt.Sprintf("the hub gave up after %d attempts: %s", a, msg)}); err != nil {
				return err
			}
			rc.resolved(outDeadLettered, muts)
			rc.r.log.Warn("push op dead-lettered", "op", op.ID, "entity", op.Entity, "record", op.RecordID, "attempts", a, "error", msg)
			continue
		}
		wait := max(after, rc.r.p.opts.Backoff(a))
		if err := rc.tx.UpdateOp(op.ID, map[string]any{"attempts": a, "next_attempt_at": rc.now.Add(wait), "last_error": msg}); err != nil {
			return err
		}
		rc.counts[outRetried] += len(muts)
	}
	return nil
}

// fail ends an op: its mutations become sync errors.
func (rc *recorder) fail(op store.PushOp, muts []store.PushMutation, status, reason string, server *sdk.Record, conflicting []string, park bool) error {
	cols := map[string]any{"status": status, "reason": reason, "op_id": 0, "parked": park,
		"server_record": recordJSON(server), "conflict_fields": mustJSON(conflicting)}
	if err := rc.tx.UpdateMutations(mutIDs(muts), cols); err != nil {
		return err
	}
	switch status {
	case store.MutationConflict:
		rc.resolved(outConflicted, muts)
	case store.MutationNotFound:
		rc.resolved(outNotFound, muts)
	default:
		rc.resolved(outRejected, muts)
	}
	return rc.tx.DeleteOps(op.ID)
}

// replace swaps an op for a new one carrying the same mutations.
func (rc *recorder) replace(op store.PushOp, muts []store.PushMutation, next *store.PushOp, cols map[string]any) error {
	if err := rc.tx.InsertOp(next); err != nil {
		return err
	}
	c := map[string]any{"op_id": next.ID}
	maps.Copy(c, cols)
	if err := rc.tx.UpdateMutations(mutIDs(muts), c); err != nil {
		return err
	}
	return rc.tx.DeleteOps(op.ID)
}

// resolveLookups rewrites lookups to the device's applied creates to the
// back end's ids.
func (rc *recorder) resolveLookups(dev int64, fields map[string]any) error {
	// Lookups to creates applied earlier in this transaction need their
	// statuses written: the store is where their back-end ids are read.
	if err := rc.flushStatuses(0); err != nil {
		return err
	}
	for f, v := range fields {
		ref, ok := lookupRef(v)
		if !ok {
			continue
		}
		creates, err := rc.tx.DeviceCreates(rc.r.src.Name, dev, ref.Entity, []string{ref.ID})
		if err != nil {
			return err
		}
		if c, ok := creates[ref.ID]; ok && c.Status == store.MutationApplied && c.BackendID != "" {
			fields[f] = map[string]any{"entity": ref.Entity, "id": c.BackendID}
		}
	}
	return nil
}

func mutIDs(muts []store.PushMutation) []int64 {
	out := make([]int64, len(muts))
	for i, m := range muts {
		out[i] = m.ID
	}
	return out
}

func messageOr(msg, def string) string {
	if msg != "" {
		return msg
	}
	return def
}

func mustJSON(v any) []byte {
	if v == nil {
		return nil
	}
	if s, ok := v.([]string); ok && len(s) == 0 {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

// recordWire is a record as sync errors show it.
type recordWire struct {
	ID         string         `json:"id"`
	Version    string         `json:"version,omitempty"`
	ModifiedAt *time.Time     `json:"modified_at,omitempty"`
	Fields     map[string]any `json:"fields"`
}

func recordJSON(r *sdk.Record) []byte {
	if r == nil {
		return nil
	}
	w := recordWire{ID: r.ID, Version: r.Version, Fields: r.Fields}
	if !r.ModifiedAt.IsZero() {
		t := r.ModifiedAt.UTC()
		w.ModifiedAt = &t
	}
	if w.Fields == nil {
		w.Fields = map[string]any{}
	}
	return mustJSON(w)
}

func mirrorToRecord(rec store.Record) (*sdk.Record, error) {
	fields, err := decodeFields(rec.Fields)
	if err != nil {
		return nil, fmt.Errorf("mirrored record %s: %w", rec.ID, err)
	}
	out := &sdk.Record{ID: rec.ID, Version: rec.Version, Fields: fields}
	if rec.ModifiedAt != nil {
		out.ModifiedAt = *rec.ModifiedAt
	}
	return out, nil
}
