package push

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Mutation is one device mutation as uploaded (the JSON body's shape).
type Mutation struct {
	MutationID string `json:"mutation_id"`
	Entity     string `json:"entity"`
	// Op is create, update or delete.
	Op string `json:"op"`
	// ID is the record's id; for a create, the device's own (temporary)
	// id.
	ID string `json:"id"`
	// BaseVersion is the version the edit is based on; required for
	// updates and deletes of records the device did not create itself.
	BaseVersion string `json:"base_version,omitempty"`
	// Fields: the changed fields (all fields for a create), a JSON object.
	Fields json.RawMessage `json:"fields,omitempty"`
	// ClientTime is when the device made the edit (RFC 3339), for
	// last_write_wins.
	ClientTime string `json:"client_time,omitempty"`
	// Group ties mutations that go to the back end all or nothing.
	Group string `json:"group,omitempty"`
}

// AcceptRequest is one upload of a device.
type AcceptRequest struct {
	Caller
	Mutations []Mutation
}

// Rejection is a mutation refused at upload, with the reason.
type Rejection struct {
	MutationID string `json:"mutation_id"`
	Reason     string `json:"reason"`
}

// AcceptResult lists, in upload order, the mutation ids stored (or stored
// before: a re-send is accepted again and changes nothing) and those
// refused.
type AcceptResult struct {
	Accepted []string    `json:"accepted"`
	Rejected []Rejection `json:"rejected"`
}

// candidate is a mutation being accepted.
type candidate struct {
	m      Mutation
	reason string
	row    store.PushMutation
	stored bool // already stored with the same content
	fields map[string]any
}

// Accept validates an upload and stores its valid mutations durably, in
// one transaction with the push job that will send them, before it
// returns: an accepted mutation is never lost. Each invalid mutation is
// rejected with a reason; the others are accepted. It fails as a whole only
// for an unknown source, an upload over MaxAcceptBatch, or a storage error
// (then nothing was stored).
func (p *Pusher) Accept(ctx context.Context, req AcceptRequest) (AcceptResult, error) {
	res := AcceptResult{Accepted: []string{}, Rejected: []Rejection{}}
	src, err := p.source(req.Source)
	if err != nil {
		return res, err
	}
	if len(req.Mutations) > p.opts.MaxAcceptBatch {
		return res, fmt.Errorf("%d mutations: %w (at most %d; send them in several uploads)", len(req.Mutations), ErrBatchTooLarge, p.opts.MaxAcceptBatch)
	}
	if len(req.Mutations) == 0 {
		return res, nil
	}
	schema, err := p.schema(ctx, src)
	if err != nil {
		return res, err
	}
	a := &acceptor{p: p, req: req, src: src, schema: schema, parts: map[string]bool{}}
	for _, part := range req.Partitions {
		a.parts[part] = true
	}
	cands := make([]*candidate, len(req.Mutations))
	for i, m := range req.Mutations {
		cands[i] = &candidate{m: m}
	}
	if err := a.validate(ctx, cands); err != nil {
		return res, err
	}

	var rows []store.PushMutation
	var idx []int
	for i, c := range cands {
		if c.reason == "" && !c.stored {
			rows = append(rows, c.row)
			idx = append(idx, i)
		}
	}
	if len(rows) > 0 {
		outcomes, err := p.st.AcceptMutations(ctx, rows, func(ctx context.Context, tx *sql.Tx) error {
			return p.enqueueTx(ctx, tx, src.Name)
		})
		if err != nil {
			return AcceptResult{Accepted: []string{}, Rejected: []Rejection{}}, err
		}
		for j, o := range outcomes {
			// A concurrent upload stored the same id first.
			if !o.Inserted && o.StoredHash != rows[j].Hash {
				cands[idx[j]].reason = "mutation_id was already used for a different mutation"
			}
		}
		// The mutations are committed with their job: the push starts now
		// rather than at the queue's next poll.
		p.wake(ctx, src.Name)
	}
	accepted := 0
	for _, c := range cands {
		if c.reason != "" {
			res.Rejected = append(res.Rejected, Rejection{MutationID: c.m.MutationID, Reason: c.reason})
			continue
		}
		res.Accepted = append(res.Accepted, c.m.MutationID)
		if !c.stored {
			accepted++
		}
	}
	p.m.count(src.Name, outAccepted, accepted)
	if len(res.Rejected) > 0 {
		p.log.Debug("mutations rejected at upload", "source", src.Name, "device", req.DeviceID, "rejected", len(res.Rejected))
	}
	return res, nil
}

type acceptor struct {
	p      *Pusher
	req    AcceptRequest
	src    *config.Source
	schema sdk.Schema
	parts  map[string]bool
}

// validate sets each candidate's reason, or its row (or stored).
func (a *acceptor) validate(ctx context.Context, cands []*candidate) error {
	// Duplicate mutation ids in one upload: none of them is taken.
	count := map[string]int{}
	for _, c := range cands {
		count[c.m.MutationID]++
	}
	var ids []string
	for _, c := range cands {
		switch {
		case c.m.MutationID == "":
			c.reason = "mutation_id is required"
		case len(c.m.MutationID) > maxIDLen:
			c.reason = fmt.Sprintf("mutation_id is longer than %d characters", maxIDLen)
		case count[c.m.MutationID] > 1:
			c.reason = fmt.Sprintf("mutation_id appears %d times in this upload", count[c.m.MutationID])
		default:
			ids = append(ids, c.m.MutationID)
		}
	}
	stored, err := a.p.st.DeviceMutations(ctx, a.req.DeviceID, ids)
	if err != nil {
		return err
	}
	for _, c := range cands {
		if c.reason != "" {
			continue
		}
		if c.reason = a.shape(c); c.reason != "" {
			continue
		}
		if old, ok := stored[c.m.MutationID]; ok {
			if old.Hash == c.row.Hash && old.Source == a.src.Name {
				c.stored = true
			} else {
				c.reason = "mutation_id was already used for a different mutation"
			}
		}
	}
	if err := a.checkRecords(ctx, cands); err != nil {
		return err
	}
	return a.checkGroups(ctx, cands)
}

// shape checks what a mutation says on its own and builds its row.
func (a *acceptor) shape(c *candidate) string {
	m := c.m
	ent, ok := a.src.Entity(m.Entity)
	if !ok {
		return fmt.Sprintf("source %s has no entity %q", a.src.Name, m.Entity)
	}
	es, ok := a.schema.Entity(m.Entity)
	if !ok {
		return fmt.Sprintf("the connector of %s does not describe entity %q", a.src.Name, m.Entity)
	}
	if ent.ReadOnly || es.ReadOnly {
		return fmt.Sprintf("entity %s is read-only", m.Entity)
	}
	op := sdk.OpKind(m.Op)
	switch op {
	case sdk.OpCreate, sdk.OpUpdate, sdk.OpDelete:
	default:
		return fmt.Sprintf("op %q is not create, update or delete", m.Op)
	}
	switch {
	case m.ID == "":
		return "id is required"
	case len(m.ID) > maxIDLen:
		return fmt.Sprintf("id is longer than %d characters", maxIDLen)
	case len(m.BaseVersion) > maxIDLen:
		return fmt.Sprintf("base_version is longer than %d characters", maxIDLen)
	case len(m.Group) > maxIDLen:
		return fmt.Sprintf("group is longer than %d characters", maxIDLen)
	case op == sdk.OpCreate && m.BaseVersion != "":
		return "a create has no base_version"
	}
	fields, err := decodeFields(m.Fields)
	if err != nil {
		return fmt.Sprintf("fields must be a JSON object: %v", err)
	}
	var clientTime *time.Time
	if m.ClientTime != "" {
		t, err := time.Parse(time.RFC3339Nano, m.ClientTime)
		if err != nil {
			return fmt.Sprintf("client_time %q is not an RFC 3339 date-time", m.ClientTime)
		}
		t = t.UTC()
		clientTime = &t
	}
	if msg := checkFields(es, ent, op, m.ID, fields); msg != "" {
		return msg
	}
	if op == sdk.OpCreate {
		a.fillPartitionField(ent, es, fields)
	}
	enc := encodeFields(fields)
	c.fields = fields
	c.row = store.PushMutation{
		Source: a.src.Name, DeviceID: a.req.DeviceID, UserID: a.req.UserID, MutationID: m.MutationID,
		Entity: m.Entity, Op: m.Op, RecordID: m.ID, BaseVersion: m.BaseVersion, Fields: enc,
		ClientTime: clientTime, GroupID: m.Group, Hash: mutationHash(m, enc), Status: store.MutationPending,
	}
	return ""
}

// fillPartitionField gives a create that leaves out the field its entity
// is partitioned by (`owner:ownerid`, `region:territory`) the caller's
// value, as a back end's own form would default the owner to the user: a
// record created on a device then stays in its creator's partition. A
// read-only field (set by the back end) is left alone, and so is a field
// the device set, even to null.
func (a *acceptor) fillPartitionField(ent *config.Entity, es sdk.EntitySchema, fields map[string]any) {
	rule, id := ent.Partition, a.req.Identity
	if rule.All || rule.Field == "" || id == nil {
		return
	}
	if _, set := fields[rule.Field]; set {
		return
	}
	i := slices.IndexFunc(es.Fields, func(f sdk.Field) bool { return f.Name == rule.Field })
	if i < 0 || es.Fields[i].ReadOnly {
		return
	}
	value := id.ID
	if rule.Attr != "owner" {
		value = id.Attributes[rule.Attr]
	}
	if value == "" {
		return
	}
	f := es.Fields[i]
	if f.Type == sdk.TypeLookup {
		target, _, _ := strings.Cut(f.Lookup, ",")
		fields[rule.Field] = map[string]any{"entity": strings.TrimSpace(target), "id": value}
		return
	}
	fields[rule.Field] = value
}

func mutationHash(m Mutation, fields []byte) string {
	h := sha256.New()
	for _, s := range []string{m.Entity, m.Op, m.ID, m.BaseVersion, string(fields), m.ClientTime, m.Group} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// checkRecords checks each mutation against the records it touches: the
// caller's partitions, base versions, id collisions; and snapshots the
// base version's fields where the conflict policy needs them.
func (a *acceptor) checkRecords(ctx context.Context, cands []*candidate) error {
	byEntity := map[string][]*candidate{}
	for _, c := range cands {
		if c.reason == "" && !c.stored {
			byEntity[c.m.Entity] = append(byEntity[c.m.Entity], c)
		}
	}
	for _, entity := range sortedKeys(byEntity) {
		cs := byEntity[entity]
		ent, _ := a.src.Entity(entity)
		ids := make([]string, 0, len(cs))
		for _, c := range cs {
			ids = append(ids, c.m.ID)
		}
		creates, err := a.p.st.DeviceCreates(ctx, a.src.Name, a.req.DeviceID, entity, ids)
		if err != nil {
			return err
		}
		// Records are looked up by the back end's id when the device's
		// create of them was applied under another id.
		look := slices.Clone(ids)
		for _, cr := range creates {
			if cr.BackendID != "" {
				look = append(look, cr.BackendID)
			}
		}
		recs, err := a.p.st.MirrorRecords(ctx, a.src.Name, entity, look)
		if err != nil {
			return err
		}
		// Edits (not creates) need two more things: whether a record the
		// caller saw has left the mirror since (deleted on the server, out
		// of the filter: its tombstone in the caller's partitions lets the
		// edit through to the conflict policy), and the device's applied
		// edits their base version may follow.
		var edited []string
		for _, c := range cs {
			if c.m.Op == string(sdk.OpCreate) {
				continue
			}
			edited = append(edited, c.m.ID)
			if cr, ok := creates[c.m.ID]; ok && cr.BackendID != "" {
				edited = append(edited, cr.BackendID)
			}
		}
		var (
			removed map[string]bool
			chain   []store.PushMutation
		)
		if len(edited) > 0 {
			var gone []string
			for _, id := range edited {
				if _, ok := recs[id]; !ok {
					gone = append(gone, id)
				}
			}
			if removed, err = a.p.st.RemovedFrom(ctx, a.src.Name, entity, gone, sortedKeys(a.parts)); err != nil {
				return err
			}
			if chain, err = a.p.st.DeviceApplied(ctx, a.src.Name, a.req.DeviceID, entity, edited); err != nil {
				return err
			}
		}
		batchCreates := map[string]bool{}
		for _, c := range cs {
			c.reason = a.checkRecord(ctx, c, ent, creates, recs, removed, chain, batchCreates)
			if c.reason == "" && c.m.Op == string(sdk.OpCreate) {
				batchCreates[c.m.ID] = true
			}
		}
	}
	return nil
}

func (a *acceptor) checkRecord(ctx context.Context, c *candidate, ent *config.Entity, creates map[string]store.PushMutation,
	recs map[string]store.Record, removed map[string]bool, chain []store.PushMutation, batchCreates map[string]bool) string {
	m := c.m
	own, hasOwn := creates[m.ID]
	// The device's own create makes the record its own to edit until it is
	// known not to exist: edits of a create that failed wait (blocked) for
	// its resolution.
	ownLive := hasOwn && !slices.Contains([]string{store.MutationNoEffect, store.MutationDropped,
		store.MutationDiscarded}, own.Status)
	id := m.ID
	if hasOwn && own.Status == store.MutationApplied && own.BackendID != "" {
		id = own.BackendID
	}
	rec, inMirror := recs[id]
	if m.Op == string(sdk.OpCreate) {
		if batchCreates[m.ID] || (ownLive && own.Status != store.MutationRejected && own.Status != store.MutationConflict) {
			return fmt.Sprintf("%s %s is already created by this device", m.Entity, m.ID)
		}
		part := partition.Of(ent.Partition, ent.Name, c.fields)
		if part == "" || !a.parts[part] {
			return fmt.Sprintf("the new %s would be outside your partitions (check its %s)", m.Entity, partitionField(ent))
		}
		if inMirror && !a.parts[rec.Partition] {
			return fmt.Sprintf("id %s of entity %s is taken", m.ID, m.Entity)
		}
		return ""
	}
	if !inMirror && !ownLive && !batchCreates[m.ID] && !removed[id] {
		return fmt.Sprintf("no %s %s in your partitions", m.Entity, m.ID)
	}
	if inMirror && !a.parts[rec.Partition] {
		return fmt.Sprintf("no %s %s in your partitions", m.Entity, m.ID)
	}
	if m.BaseVersion == "" && !ownLive && !batchCreates[m.ID] {
		return "base_version is required for an update or delete (the version the edit is based on)"
	}
	base := rebase(m.BaseVersion, m.ID, id, chain)
	c.row.BaseVersion = base
	// The base's fields: merges need them, and so does re-creating a
	// record deleted on the server (keep_mine, device_wins_full).
	switch {
	case base == "":
	case inMirror && rec.Version == base:
		c.row.BaseFields = rec.Fields
	case needsBase(ent.Conflict):
		if f, ok, err := a.p.st.RecordAt(ctx, a.src.Name, m.Entity, id, base); err == nil && ok {
			c.row.BaseFields = f
		}
	}
	return ""
}

// rebase follows the device's own applied edits of a record: an edit
// based on the version an earlier edit of the same device replaced is
// based, in truth, on the version that edit made (the device had not
// downloaded it yet).
func rebase(base, deviceID, backendID string, chain []store.PushMutation) string {
	for range len(chain) + 1 {
		moved := false
		for _, a := range chain {
			if (a.RecordID == deviceID || a.RecordID == backendID || a.BackendID == backendID) &&
				a.BaseVersion == base && a.ResultVersion != base {
				base, moved = a.ResultVersion, true
				break
			}
		}
		if !moved {
			break
		}
	}
	return base
}

func partitionField(ent *config.Entity) string {
	if ent.Partition.Field != "" {
		return "field " + ent.Partition.Field
	}
	return "partition field"
}

// checkGroups applies the rules of groups: the connector must announce
// atomic batches; a group fits one Upload; a group is refused as a whole
// when one of its mutations is; and a group id is used for one set of
// mutations only.
func (a *acceptor) checkGroups(ctx context.Context, cands []*candidate) error {
	groups := map[string][]*candidate{}
	for _, c := range cands {
		if c.m.Group != "" && c.m.MutationID != "" {
			groups[c.m.Group] = append(groups[c.m.Group], c)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	desc, err := a.p.describe(ctx, a.src)
	if err != nil {
		return err
	}
	limit := batchSize(a.src, desc)
	for _, g := range sortedKeys(groups) {
		cs := groups[g]
		reject := func(reason string) {
			for _, c := range cs {
				if c.reason == "" {
					c.reason = reason
				}
			}
		}
		if !desc.AtomicBatches {
			reject(fmt.Sprintf("group %q refused: the connector of source %s cannot apply a group all or nothing (it announces no atomic batches); send these mutations without a group", g, a.src.Name))
			continue
		}
		if len(cs) > limit {
			reject(fmt.Sprintf("group %q has %d mutations; at most %d go in one all-or-nothing call to source %s", g, len(cs), limit, a.src.Name))
			continue
		}
		for _, c := range cs {
			if c.reason != "" {
				reject(fmt.Sprintf("group %q refused because mutation %s is: %s", g, c.m.MutationID, c.reason))
				break
			}
		}
		storedRows, err := a.p.st.GroupMutations(ctx, a.src.Name, a.req.DeviceID, g)
		if err != nil {
			return err
		}
		if len(storedRows) == 0 {
			continue
		}
		same := len(storedRows) == len(cs)
		hashes := map[string]string{}
		for _, r := range storedRows {
			hashes[r.MutationID] = r.Hash
		}
		for _, c := range cs {
			if h, ok := hashes[c.m.MutationID]; !ok || h != c.row.Hash {
				same = false
			}
		}
		if !same {
			reject(fmt.Sprintf("group %q was already uploaded with other mutations; a group id names one set of mutations", g))
		}
	}
	return nil
}
