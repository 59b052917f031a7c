package push

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// recKey names a record by the id the back end knows it by.
type recKey struct{ entity, id string }

type devEntity struct {
	dev    int64
	entity string
}

type devGroup struct {
	dev   int64
	group string
}

// chainPlan is what a run of one device's consecutive mutations of one
// record coalesces to.
type chainPlan struct {
	key      recKey
	muts     []*store.PushMutation
	kind     sdk.OpKind
	fields   map[string]any
	base     string
	force    bool
	noEffect bool
	group    string
	// raw is the stored fields of a chain of one mutation: the op carries
	// them as they are unless prepare rewrites a lookup. fields is nil
	// when they hold no lookup (see run).
	raw []byte
}

// prepared is a chainPlan ready to freeze.
type prepared struct {
	cp       *chainPlan
	fields   map[string]any
	deferred map[string]any
	// rewritten: fields differ from the chain's (a lookup mapped to the
	// back end's id, or deferred).
	rewritten bool
}

// planner freezes one round of ops inside one transaction.
type planner struct {
	r       *runner
	tx      *store.PushTx
	now     time.Time
	creates map[devEntity]map[string]store.PushMutation
	busy    map[recKey]store.PushOp
	// refs are the records lookups point to: by the ops in flight (0) and
	// by waiting mutations (their ids). A delete of a record waits for
	// what points to it from before.
	refs     map[recKey][]int64
	progress int
	// more: the plan saw only the first of the waiting mutations
	// (runner.plan's limit). Deletes then wait for a plan that sees them
	// all, which sends them children first (runner.sortOps), and so do
	// groups (only such a plan holds every member) and creates that may
	// wait for each other. What waits for that reason keeps its status.
	more   bool
	frozen []frozenOp // ops planned, written by writeFrozen
	// decoded holds the fields of the mutations decoded in this plan (by
	// id): those that may coalesce or hold a lookup (see run).
	decoded map[int64]map[string]any
	// sendSeq is the source's seq as the plan's ops are sent: ops frozen
	// now are stored with it as their SentSeq (fresh), other due ops get it
	// from MarkSent. In memory an op's SentSeq stays 0 on its first send:
	// only a later send's answer may be a replay (see recorder.applied).
	sendSeq int64
	fresh   map[int64]bool
	// carried are the mutations of the create ops frozen now, by op, as
	// the plan leaves them: the recorder need not read them again.
	carried map[int64][]store.PushMutation
}

// fieldsOf decodes a mutation's stored fields, once per plan.
func (pl *planner) fieldsOf(m *store.PushMutation) (map[string]any, error) {
	if f, ok := pl.decoded[m.ID]; ok {
		return f, nil
	}
	f, err := decodeFields(m.Fields)
	if err != nil {
		return nil, fmt.Errorf("mutation %d: stored fields: %w", m.ID, err)
	}
	if pl.decoded == nil {
		pl.decoded = map[int64]map[string]any{}
	}
	pl.decoded[m.ID] = f
	return f, nil
}

// refsOf returns the lookups among a mutation's fields.
func (pl *planner) refsOf(m *store.PushMutation) ([]sdk.Ref, error) {
	if !mayRef(m.Fields) {
		return nil, nil
	}
	f, err := pl.fieldsOf(m)
	if err != nil {
		return nil, err
	}
	var refs []sdk.Ref
	for _, v := range f {
		if ref, ok := lookupRef(v); ok {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// mayRef reports whether stored fields may hold a lookup: a lookup is an
// object inside the fields object, so fields without a second '{' hold
// none and need not be decoded to know it.
func mayRef(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && bytes.IndexByte(raw[1:], '{') >= 0
}

// planned is what one plan did: how many ops it froze plus how many
// mutations it resolved, the ops due now (marked sent in the plan's
// transaction), and whether it saw only the first of the waiting
// mutations.
type planned struct {
	progress int
	due      []store.PushOp
	more     bool
}

// plan freezes the ops the source's waiting mutations make now (one op
// per record at a time, coalesced, dependencies resolved) and resolves
// those that need none, for the first limit waiting mutations (all with
// limit 0). The ops it returns due are those not already on their way in
// this run (runner.inFlight), which it adds to them. It runs under
// runner.dbMu.
func (r *runner) plan(ctx context.Context, limit int) (planned, error) {
	r.dbMu.Lock()
	defer r.dbMu.Unlock()
	var out planned
	var carried map[int64][]store.PushMutation
	err := r.p.st.PushTx(ctx, func(tx *store.PushTx) error {
		pl := &planner{r: r, tx: tx, now: r.now(), creates: map[devEntity]map[string]store.PushMutation{},
			fresh: map[int64]bool{}, carried: map[int64][]store.PushMutation{}}
		carried = pl.carried
		var err error
		if pl.sendSeq, err = tx.SendSeq(r.src.Name); err != nil {
			return err
		}
		if err := pl.run(limit); err != nil {
			return err
		}
		if err := pl.writeFrozen(); err != nil {
			return err
		}
		out = planned{progress: pl.progress, more: pl.more, due: make([]store.PushOp, 0, max(len(pl.busy)-len(r.inFlight), 0))}
		var ids []int64
		for _, op := range pl.busy {
			if _, sent := r.inFlight[op.ID]; !sent && !op.Dead && !op.NextAttemptAt.After(pl.now) {
				out.due = append(out.due, op)
				if op.SentSeq == 0 && !pl.fresh[op.ID] {
					ids = append(ids, op.ID)
				}
			}
		}
		return tx.MarkSent(r.src.Name, ids)
	})
	if err != nil {
		return planned{}, fmt.Errorf("plan: %w", err)
	}
	for _, op := range out.due {
		r.inFlight[op.ID] = op
	}
	maps.Copy(r.carried, carried)
	return out, nil
}

func (pl *planner) run(limit int) error {
	source := pl.r.src.Name
	muts, more, err := pl.tx.WaitingMutations(source, true, limit)
	if err != nil {
		return err
	}
	pl.more = more
	pl.frozen = make([]frozenOp, 0, len(muts))
	ops, err := pl.tx.Ops(source, pl.r.inFlight)
	if err != nil {
		return err
	}
	pl.busy = make(map[recKey]store.PushOp, len(ops)+len(muts))
	for _, op := range ops {
		pl.busy[recKey{op.Entity, op.RecordID}] = op
	}
	if err := pl.loadCreates(muts); err != nil {
		return err
	}
	if err := pl.loadRefs(ops, muts); err != nil {
		return err
	}

	parked := map[devEntityID]int64{}
	byRec := map[recKey][]*store.PushMutation{}
	var order []recKey
	for i := range muts {
		m := &muts[i]
		key := recKey{m.Entity, pl.resolve(m.DeviceID, m.Entity, m.RecordID)}
		switch m.Status {
		case store.MutationPending, store.MutationBlocked:
		case store.MutationConflict:
			if _, ok := parked[devEntityID{m.DeviceID, key}]; !ok {
				parked[devEntityID{m.DeviceID, key}] = m.ID
			}
			continue
		default:
			continue
		}
		if _, ok := byRec[key]; !ok {
			order = append(order, key)
		}
		byRec[key] = append(byRec[key], m)
	}
	// A record's mutations are decoded when they may coalesce or hold a
	// lookup; a lone mutation without one goes out as it was stored.
	for _, key := range order {
		list := byRec[key]
		if len(list) == 1 && !mayRef(list[0].Fields) {
			continue
		}
		for _, m := range list {
			if _, err := pl.fieldsOf(m); err != nil {
				return err
			}
		}
	}

	groups := map[devGroup][]*chainPlan{}
	var groupOrder []devGroup
	var waiting []*chainPlan
	for _, key := range order {
		list := byRec[key]
		if op, ok := pl.busy[key]; ok {
			if op.Dead {
				if err := pl.block(list, "waits for an earlier change of this record that the hub could not deliver (a dead letter)"); err != nil {
					return err
				}
			}
			continue
		}
		var rest []*store.PushMutation
		for _, m := range list {
			if id, ok := parked[devEntityID{m.DeviceID, key}]; ok && id < m.ID {
				if err := pl.block([]*store.PushMutation{m}, fmt.Sprintf("waits for your decision on sync error %d", id)); err != nil {
					return err
				}
				continue
			}
			rest = append(rest, m)
		}
		if len(rest) == 0 {
			continue
		}
		cp := coalesce(key, rest, pl.decoded)
		if cp.group != "" {
			g := devGroup{cp.muts[0].DeviceID, cp.group}
			if _, ok := groups[g]; !ok {
				groupOrder = append(groupOrder, g)
			}
			groups[g] = append(groups[g], cp)
			continue
		}
		done, err := pl.single(cp, false)
		if err != nil {
			return err
		}
		if !done {
			waiting = append(waiting, cp)
		}
	}
	// Only a plan that saw every waiting mutation knows whole groups:
	// their members come from its rows, read once for all groups.
	if len(groupOrder) > 0 && !pl.more {
		members := map[devGroup]map[int64]bool{}
		for _, m := range muts {
			k := devGroup{m.DeviceID, m.GroupID}
			if _, ok := groups[k]; ok {
				if members[k] == nil {
					members[k] = map[int64]bool{}
				}
				members[k][m.ID] = true
			}
		}
		for _, g := range groupOrder {
			if err := pl.group(g, groups[g], members[g]); err != nil {
				return err
			}
		}
	}
	// Creates that wait for each other through lookups (a cycle the
	// config's parents cannot express): the oldest goes without the
	// lookups it waits for, which a second pass sets. Only a plan that
	// saw every waiting mutation, with nothing on its way, knows that
	// they wait for each other.
	if pl.progress == 0 && len(pl.busy) == 0 && !pl.more {
		for _, cp := range waiting {
			done, err := pl.single(cp, true)
			if err != nil || done {
				return err
			}
		}
	}
	return nil
}

type devEntityID struct {
	dev int64
	key recKey
}

// loadCreates reads the devices' creates that the mutations' records and
// lookups may name.
func (pl *planner) loadCreates(muts []store.PushMutation) error {
	need := map[devEntity]map[string]bool{}
	add := func(dev int64, entity, id string) {
		k := devEntity{dev, entity}
		if need[k] == nil {
			need[k] = map[string]bool{}
		}
		need[k][id] = true
	}
	for i := range muts {
		m := &muts[i]
		if m.Status != store.MutationPending && m.Status != store.MutationBlocked {
			continue
		}
		if m.Op != string(sdk.OpCreate) {
			// A create needs no earlier create of its id: accept refuses a
			// second create of a record while the first may exist.
			add(m.DeviceID, m.Entity, m.RecordID)
		}
		refs, err := pl.refsOf(m)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			add(m.DeviceID, ref.Entity, ref.ID)
		}
	}
	// One query per device and entity, along the device's index.
	keys := slices.Collect(maps.Keys(need))
	slices.SortFunc(keys, func(a, b devEntity) int {
		if a.dev != b.dev {
			return cmp.Compare(a.dev, b.dev)
		}
		return strings.Compare(a.entity, b.entity)
	})
	for _, k := range keys {
		creates, err := pl.tx.DeviceCreates(pl.r.src.Name, k.dev, k.entity, sortedKeys(need[k]))
		if err != nil {
			return err
		}
		if len(creates) > 0 {
			pl.creates[k] = creates // the latest create of an id wins
		}
	}
	return nil
}

// loadRefs collects what lookups of ops in flight and of waiting mutations
// point to.
func (pl *planner) loadRefs(ops []store.PushOp, muts []store.PushMutation) error {
	pl.refs = map[recKey][]int64{}
	for _, op := range ops {
		for _, raw := range [][]byte{op.Fields, op.Deferred} {
			if !mayRef(raw) {
				continue
			}
			f, err := decodeFields(raw)
			if err != nil {
				return fmt.Errorf("op %d: stored fields: %w", op.ID, err)
			}
			for _, v := range f {
				if ref, ok := lookupRef(v); ok {
					k := recKey{ref.Entity, ref.ID}
					pl.refs[k] = append(pl.refs[k], 0)
				}
			}
		}
	}
	for i := range muts {
		m := &muts[i]
		if m.Status != store.MutationPending && m.Status != store.MutationBlocked {
			continue
		}
		refs, err := pl.refsOf(m)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			k := recKey{ref.Entity, pl.resolve(m.DeviceID, ref.Entity, ref.ID)}
			pl.refs[k] = append(pl.refs[k], m.ID)
		}
	}
	return nil
}

// pointedTo reports whether a delete chain must wait: an op in flight, or
// a mutation made before the delete, points to its record.
func (pl *planner) pointedTo(cp *chainPlan) bool {
	if cp.kind != sdk.OpDelete {
		return false
	}
	last := cp.muts[len(cp.muts)-1].ID
	for _, id := range pl.refs[cp.key] {
		if id == 0 || id < last {
			return true
		}
	}
	return false
}

// resolve maps a device's id of a record to the back end's: the device's
// applied create may have been keyed by the back end.
func (pl *planner) resolve(dev int64, entity, id string) string {
	if c, ok := pl.creates[devEntity{dev, entity}][id]; ok && exists(c) {
		return c.BackendID
	}
	return id
}

// exists reports whether a device's create made its record on the back
// end: applied, or its first pass applied (a second pass sets lookups).
func exists(c store.PushMutation) bool {
	return c.BackendID != "" && (c.Status == store.MutationApplied || c.Status == store.MutationInflight)
}

// coalesce folds the leading run of one device's mutations of a record
// (same group, same forcing) into one op: create+update = create,
// update+update = update with merged fields, update+delete = delete,
// create+delete = nothing.
func coalesce(key recKey, list []*store.PushMutation, fields map[int64]map[string]any) *chainPlan {
	first := list[0]
	cp := &chainPlan{key: key, muts: []*store.PushMutation{first}, kind: sdk.OpKind(first.Op),
		fields: maps.Clone(fields[first.ID]), base: first.BaseVersion, force: first.Force, group: first.GroupID}
	if _, decoded := fields[first.ID]; !decoded {
		cp.raw = first.Fields // alone and without lookups: see run
		return cp
	}
	for _, m := range list[1:] {
		if m.DeviceID != first.DeviceID || m.GroupID != first.GroupID || m.Force != first.Force {
			break
		}
		op := sdk.OpKind(m.Op)
		if op == sdk.OpCreate || cp.kind == sdk.OpDelete {
			break
		}
		if cp.kind == sdk.OpUpdate && m.BaseVersion != "" && m.BaseVersion != cp.base {
			break // based on another version: it goes on its own
		}
		cp.muts = append(cp.muts, m)
		if op == sdk.OpDelete {
			if cp.kind == sdk.OpCreate {
				cp.noEffect = true
			}
			cp.kind, cp.fields = sdk.OpDelete, map[string]any{}
			break
		}
		maps.Copy(cp.fields, fields[m.ID])
	}
	if len(cp.muts) == 1 {
		cp.raw = first.Fields
	}
	return cp
}

// prepare resolves a chain's dependencies: the record's own create and the
// devices' creates its lookups point to. It returns the op's fields, or
// wait (a dependency is on its way), or a reason to block (a dependency
// failed). With breakCycle, lookups that would wait are deferred instead.
func (pl *planner) prepare(cp *chainPlan, members map[int64]bool, breakCycle bool) (p *prepared, wait bool, block string) {
	dev := cp.muts[0].DeviceID
	in := func(id int64) bool {
		if members[id] {
			return true
		}
		return slices.ContainsFunc(cp.muts, func(m *store.PushMutation) bool { return m.ID == id })
	}
	if cp.kind != sdk.OpCreate {
		if c, ok := pl.creates[devEntity{dev, cp.key.entity}][cp.muts[0].RecordID]; ok && !in(c.ID) {
			switch {
			case exists(c) || c.Status == store.MutationApplied:
			case c.Status == store.MutationPending || c.Status == store.MutationInflight || c.Status == store.MutationBlocked:
				return nil, true, ""
			default:
				return nil, false, fmt.Sprintf("waits for the create of %s %s (mutation %s), which is %s",
					cp.key.entity, c.RecordID, c.MutationID, c.Status)
			}
		}
	}
	p = &prepared{cp: cp, fields: maps.Clone(cp.fields)}
	for _, f := range sortedKeys(cp.fields) {
		ref, ok := lookupRef(cp.fields[f])
		if !ok {
			continue
		}
		c, ok := pl.creates[devEntity{dev, ref.Entity}][ref.ID]
		if !ok || in(c.ID) {
			continue
		}
		switch {
		case exists(c):
			if c.BackendID != ref.ID {
				p.fields[f] = map[string]any{"entity": ref.Entity, "id": c.BackendID}
				p.rewritten = true
			}
		case c.Status == store.MutationApplied:
		case c.Status == store.MutationPending || c.Status == store.MutationInflight || c.Status == store.MutationBlocked:
			if !breakCycle {
				return nil, true, ""
			}
			if p.deferred == nil {
				p.deferred = map[string]any{}
			}
			p.deferred[f] = p.fields[f]
			p.rewritten = true
			delete(p.fields, f)
		default:
			return nil, false, fmt.Sprintf("field %s points to %s %s, whose create (mutation %s) is %s",
				f, ref.Entity, ref.ID, c.MutationID, c.Status)
		}
	}
	return p, false, ""
}

// single plans a chain outside any group; done is false when it waits.
func (pl *planner) single(cp *chainPlan, breakCycle bool) (done bool, err error) {
	if cp.noEffect {
		return true, pl.noEffect(cp)
	}
	if pl.more && cp.kind == sdk.OpDelete {
		return false, nil // left as it is for a plan that sees everything
	}
	if pl.pointedTo(cp) {
		return false, pl.unblock(cp.muts)
	}
	p, wait, block := pl.prepare(cp, nil, breakCycle)
	switch {
	case block != "":
		return true, pl.block(cp.muts, block)
	case wait:
		return false, pl.unblock(cp.muts)
	}
	return true, pl.freeze(p, "")
}

// group plans an atomic group: it goes when every one of its mutations
// leads its record's queue and nothing it depends on outside it is on its
// way; it is blocked as a whole. members are the group's waiting
// mutations, from a plan that saw every waiting mutation (run leaves
// groups alone otherwise).
func (pl *planner) group(g devGroup, cps []*chainPlan, members map[int64]bool) error {
	covered := 0
	var muts []*store.PushMutation
	for _, cp := range cps {
		covered += len(cp.muts)
		muts = append(muts, cp.muts...)
	}
	if covered != len(members) {
		return nil // part of the group is not at the head of its record yet
	}
	var ready []*prepared
	for _, cp := range cps {
		if cp.noEffect {
			// Created and deleted inside the group: nothing to send.
			ready = append(ready, &prepared{cp: cp})
			continue
		}
		p, wait, block := pl.prepare(cp, members, false)
		switch {
		case block != "":
			return pl.block(muts, fmt.Sprintf("group %q %s", g.group, block))
		case wait || pl.pointedTo(cp):
			return pl.unblock(muts)
		}
		ready = append(ready, p)
	}
	key := fmt.Sprintf("%d:%s", g.dev, g.group)
	for _, p := range ready {
		if p.cp.noEffect {
			if err := pl.noEffect(p.cp); err != nil {
				return err
			}
			continue
		}
		if err := pl.freeze(p, key); err != nil {
			return err
		}
	}
	return nil
}

// freeze writes the op and marks its mutations in flight.
func (pl *planner) freeze(p *prepared, groupKey string) error {
	cp := p.cp
	op := store.PushOp{Source: pl.r.src.Name, Key: newOpKey(), Entity: cp.key.entity, Kind: string(cp.kind),
		RecordID: cp.key.id, BaseVersion: cp.base, Fields: cp.raw, GroupKey: groupKey,
		NextAttemptAt: pl.now, CreatedAt: pl.now}
	if len(cp.raw) == 0 || p.rewritten {
		op.Fields = encodeFields(p.fields)
	} else {
		// The op carries its one mutation's fields as stored: its row
		// need not copy them.
		op.SharedFields = true
	}
	if cp.kind == sdk.OpCreate {
		op.RecordID, op.BaseVersion = cp.muts[0].RecordID, ""
	}
	if cp.force {
		op.BaseVersion = ""
	}
	if cp.kind == sdk.OpDelete {
		op.Fields, op.SharedFields = []byte("{}"), false
	}
	if len(p.deferred) > 0 {
		op.Deferred = encodeFields(p.deferred)
	}
	// The op and its mutations' status are written with the plan's others
	// when the plan is over (writeFrozen): one INSERT and one UPDATE per
	// chunk instead of two statements per record.
	pl.busy[cp.key] = op
	pl.frozen = append(pl.frozen, frozenOp{key: cp.key, op: op, muts: cp.muts})
	pl.progress++
	return nil
}

// frozenOp is an op planned in this run, not written yet.
type frozenOp struct {
	key  recKey
	op   store.PushOp
	muts []*store.PushMutation
}

// writeFrozen stores the run's new ops and sets their mutations in flight.
func (pl *planner) writeFrozen() error {
	if len(pl.frozen) == 0 {
		return nil
	}
	ops := make([]store.PushOp, len(pl.frozen))
	for i, f := range pl.frozen {
		ops[i] = f.op
		if !ops[i].NextAttemptAt.After(pl.now) {
			ops[i].SentSeq = pl.sendSeq // sent by this run, right after the plan
		}
	}
	if err := pl.tx.InsertOps(ops); err != nil {
		return err
	}
	var muts []int64
	opOf := map[int64]any{}
	for i, f := range pl.frozen {
		if ops[i].SentSeq != 0 {
			pl.fresh[ops[i].ID] = true
			ops[i].SentSeq = 0
		}
		pl.busy[f.key] = ops[i] // with its id, for the due list
		for _, m := range f.muts {
			muts = append(muts, m.ID)
			opOf[m.ID] = ops[i].ID
		}
		if !slices.ContainsFunc(f.muts, func(m *store.PushMutation) bool { return m.Op != string(sdk.OpCreate) }) {
			// The recorder takes creates as this plan leaves them, without
			// their fields (the op has them); it reads other mutations,
			// whose base snapshot a conflict policy may need.
			carried := make([]store.PushMutation, len(f.muts))
			for j, m := range f.muts {
				carried[j] = *m
				carried[j].Status, carried[j].Reason, carried[j].OpID, carried[j].Fields = store.MutationInflight, "", ops[i].ID, nil
			}
			pl.carried[ops[i].ID] = carried
		}
	}
	pl.frozen = nil
	return pl.tx.UpdateMutationsEach(muts, map[string]any{"status": store.MutationInflight, "reason": ""},
		map[string]map[int64]any{"op_id": opOf})
}

// noEffect resolves a create deleted before it reached the back end. It
// takes a seq so the device hears of it in its changes feed.
func (pl *planner) noEffect(cp *chainPlan) error {
	seq, err := pl.tx.TakeSeq(pl.r.src.Name)
	if err != nil {
		return err
	}
	pl.progress++
	pl.r.p.m.count(pl.r.src.Name, outNoEffect, len(cp.muts))
	return pl.tx.UpdateMutations(ids(cp.muts), map[string]any{"status": store.MutationNoEffect, "applied_seq": seq,
		"resolved_at": pl.now, "reason": "created and deleted on the device before it reached the back end: nothing to do"})
}

// block marks mutations blocked (a sync error the device sees) unless they
// already are, for the same reason.
func (pl *planner) block(muts []*store.PushMutation, reason string) error {
	var change []int64
	for _, m := range muts {
		if m.Status != store.MutationBlocked || m.Reason != reason {
			change = append(change, m.ID)
			m.Status, m.Reason = store.MutationBlocked, reason
		}
	}
	return pl.tx.UpdateMutations(change, map[string]any{"status": store.MutationBlocked, "reason": reason})
}

// unblock puts blocked mutations that now merely wait back to pending.
func (pl *planner) unblock(muts []*store.PushMutation) error {
	var change []int64
	for _, m := range muts {
		if m.Status == store.MutationBlocked {
			change = append(change, m.ID)
			m.Status, m.Reason = store.MutationPending, ""
		}
	}
	return pl.tx.UpdateMutations(change, map[string]any{"status": store.MutationPending, "reason": ""})
}

func ids(muts []*store.PushMutation) []int64 {
	out := make([]int64, len(muts))
	for i, m := range muts {
		out[i] = m.ID
	}
	return out
}

// newOpKey returns a new op's key: a version 7 UUID, ordered by time, so
// the ops' unique index on it takes new keys at its end instead of at
// random places (every batch's ops would otherwise touch a page of the
// index each, when they are written and again when they are deleted).
func newOpKey() string {
	if k, err := uuid.NewV7(); err == nil {
		return k.String()
	}
	return uuid.NewString()
}
