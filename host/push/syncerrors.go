package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// The resolutions of a sync error.
const (
	// ResolveKeepMine re-sends the device's change, forced: without the
	// version precondition (a record deleted on the server is created
	// again); a dead letter is re-sent as it was.
	ResolveKeepMine = "keep_mine"
	// ResolveTakeServer drops the device's change.
	ResolveTakeServer = "take_server"
	// ResolveMerged sends the given fields instead, against the version of
	// the server record the device was shown.
	ResolveMerged = "merged"
)

// Applied is a device's mutation the mirror now reflects, for the changes
// feed.
type Applied struct {
	MutationID string `json:"mutation_id"`
	// ID is the back end's id of a created record when it is not the id
	// the device gave it: the device re-keys the record.
	ID string `json:"id,omitempty"`
	// NoEffect: the mutation was resolved without reaching the back end
	// (a create deleted before it was sent); the device drops it.
	NoEffect bool `json:"no_effect,omitempty"`
}

// Applied returns the device's mutations of source resolved at a seq in
// (after, through], at most about limit; reached is the seq the answer
// covers (through, unless more remain).
func (p *Pusher) Applied(ctx context.Context, source string, deviceID, after, through int64, limit int) ([]Applied, int64, error) {
	rows, reached, err := p.st.AppliedMutations(ctx, source, deviceID, after, through, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Applied, 0, len(rows))
	for _, r := range rows {
		a := Applied{MutationID: r.MutationID, NoEffect: r.Status == store.MutationNoEffect}
		if r.Op == string(sdk.OpCreate) && r.BackendID != "" && r.BackendID != r.RecordID {
			a.ID = r.BackendID
		}
		out = append(out, a)
	}
	return out, reached, nil
}

// SyncError is a device mutation that was not applied, as the device sees
// it.
type SyncError struct {
	// ID names the sync error in resolve calls.
	ID         string `json:"id"`
	MutationID string `json:"mutation_id"`
	Entity     string `json:"entity"`
	RecordID   string `json:"record_id"`
	Op         string `json:"op"`
	// Status is conflict, rejected, not_found, dead (the hub gave up
	// delivering it) or blocked (it waits for another change that failed).
	Status string `json:"status"`
	Reason string `json:"reason"`
	// Parked: the entity's policy is user_decides; the change waits for
	// a resolution, and so do the device's later changes of the record.
	Parked bool   `json:"parked,omitempty"`
	Group  string `json:"group,omitempty"`
	// ServerRecord is the server's record met in a conflict
	// {"id","version","modified_at","fields"}, when the caller may see it.
	ServerRecord json.RawMessage `json:"server_record,omitempty"`
	// DeviceRecord holds the device's fields of the change.
	DeviceRecord      json.RawMessage `json:"device_record"`
	ConflictingFields []string        `json:"conflicting_fields"`
	CreatedAt         time.Time       `json:"created_at"`
}

// Caller is a device of a user, with its subscription of a source.
type Caller struct {
	Source string
	// UserID and DeviceID are the store's ids of the user and the device.
	UserID, DeviceID int64
	// Partitions is the caller's subscription of Source (partition.ForUser):
	// it bounds what the caller may change and see.
	Partitions []string
	// Identity is the caller's back-end identity on Source (nil: none): a
	// create that leaves its entity's partition field out gets it from
	// there, so a record a user creates is theirs.
	Identity *config.Identity
}

// SyncErrors lists the caller's unresolved sync errors, oldest first.
// Another device's errors are never listed.
func (p *Pusher) SyncErrors(ctx context.Context, c Caller) ([]SyncError, error) {
	src, err := p.source(c.Source)
	if err != nil {
		return nil, err
	}
	rows, err := p.st.SyncErrors(ctx, src.Name, c.DeviceID)
	if err != nil {
		return nil, err
	}
	parts := map[string]bool{}
	for _, pt := range c.Partitions {
		parts[pt] = true
	}
	out := make([]SyncError, 0, len(rows))
	for _, r := range rows {
		e := SyncError{ID: strconv.FormatInt(r.ID, 10), MutationID: r.MutationID, Entity: r.Entity, RecordID: r.RecordID,
			Op: r.Op, Status: r.Status, Reason: r.Reason, Parked: r.Parked, Group: r.GroupID, DeviceRecord: r.Fields,
			ConflictingFields: []string{}, CreatedAt: r.CreatedAt.UTC()}
		if len(r.ConflictFields) > 0 {
			_ = json.Unmarshal(r.ConflictFields, &e.ConflictingFields)
		}
		e.ServerRecord = p.visibleRecord(src.Name, r.Entity, r.ServerRecord, parts)
		out = append(out, e)
	}
	return out, nil
}

// visibleRecord returns a server record projected to the entity's synced
// fields, or nil when it lies outside the caller's partitions (the server
// may have moved it to another user meanwhile).
func (p *Pusher) visibleRecord(source, entity string, raw []byte, parts map[string]bool) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	src, _ := p.cfg.Source(source)
	ent, ok := src.Entity(entity)
	if !ok {
		return nil
	}
	var w recordWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil
	}
	if !parts[partition.Of(ent.Partition, ent.Name, w.Fields)] {
		return nil
	}
	if len(ent.Fields) > 0 {
		for k := range w.Fields {
			if !slices.Contains(ent.Fields, k) {
				delete(w.Fields, k)
			}
		}
	}
	return mustJSON(w)
}

// ResolveRequest settles one of the caller's sync errors.
type ResolveRequest struct {
	Caller
	// ID is the sync error's id.
	ID string
	// Resolution is keep_mine, take_server or merged.
	Resolution string
	// Fields are the fields to send, for merged.
	Fields json.RawMessage
}

// Resolve settles a sync error of the caller: ErrNotFound for one of
// another device (or user), ErrNotOpen for one already resolved,
// ErrInvalid for an invalid resolution. An error of a group settles the whole group.
// keep_mine and merged queue a push.
func (p *Pusher) Resolve(ctx context.Context, req ResolveRequest) error {
	src, err := p.source(req.Source)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(req.ID, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("sync error %q: %w", req.ID, ErrNotFound)
	}
	var merged map[string]any
	switch req.Resolution {
	case ResolveKeepMine, ResolveTakeServer:
	case ResolveMerged:
		if merged, err = decodeFields(req.Fields); err != nil {
			return fmt.Errorf("%w: fields must be a JSON object: %v", ErrInvalid, err)
		}
	default:
		return fmt.Errorf("%w: resolution %q is not keep_mine, take_server or merged", ErrInvalid, req.Resolution)
	}
	schema, err := p.schema(ctx, src)
	if err != nil {
		return err
	}
	now := p.now()
	err = p.st.PushTx(ctx, func(tx *store.PushTx) error {
		m, err := tx.Mutation(id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (m.Source != src.Name || m.DeviceID != req.DeviceID)) {
			return fmt.Errorf("sync error %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !slices.Contains(store.SyncErrorStatuses, m.Status) {
			return fmt.Errorf("%w: sync error %d is %s", ErrNotOpen, id, m.Status)
		}
		set := []store.PushMutation{m}
		if m.GroupID != "" {
			all, err := tx.GroupMutations(src.Name, m.DeviceID, m.GroupID)
			if err != nil {
				return err
			}
			set = set[:0]
			for _, g := range all {
				if slices.Contains(store.SyncErrorStatuses, g.Status) {
					set = append(set, g)
				}
			}
		}
		for _, x := range set {
			if err := p.resolveOne(tx, x, req.Resolution, merged, schema, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("resolve sync error %s: %w", req.ID, err)
	}
	if req.Resolution != ResolveTakeServer {
		if err := p.Trigger(ctx, src.Name); err != nil {
			p.log.Warn("resolved, but the push could not be queued; the sweep will send it", "source", src.Name, "error", err)
		}
	}
	return nil
}

func (p *Pusher) resolveOne(tx *store.PushTx, m store.PushMutation, resolution string, merged map[string]any, schema sdk.Schema, now time.Time) error {
	if m.Status == store.MutationDead {
		switch resolution {
		case ResolveTakeServer:
			return p.discardDead(tx, m, store.MutationDropped, now)
		case ResolveKeepMine:
			return p.reviveDead(tx, m, now)
		}
		// merged: the dead op's effect is unknown; it is dropped and the
		// merged fields go out as a new change below.
		if err := p.discardDead(tx, m, store.MutationDead, now); err != nil {
			return err
		}
	}
	switch resolution {
	case ResolveTakeServer:
		return tx.UpdateMutations([]int64{m.ID}, map[string]any{"status": store.MutationDropped, "parked": false,
			"resolved_at": now, "reason": "dropped: the server's record was kept (take_server)"})
	case ResolveKeepMine:
		return tx.UpdateMutations([]int64{m.ID}, map[string]any{"status": store.MutationPending, "parked": false,
			"force": true, "reason": "", "op_id": 0})
	}
	src, _ := p.cfg.Source(m.Source)
	ent, ok := src.Entity(m.Entity)
	es, ok2 := schema.Entity(m.Entity)
	if !ok || !ok2 {
		return fmt.Errorf("%w: entity %s is no longer synced", ErrInvalid, m.Entity)
	}
	op := sdk.OpKind(m.Op)
	if op == sdk.OpDelete || m.Status == store.MutationNotFound {
		// Merged fields make a record: an update of it, or its new self
		// when the server deleted it.
		op = sdk.OpUpdate
		if m.Status == store.MutationNotFound {
			op = sdk.OpCreate
		}
	}
	fields := make(map[string]any, len(merged))
	for k, v := range merged {
		fields[k] = v
	}
	if msg := checkFields(es, ent, op, m.RecordID, fields); msg != "" {
		return fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	base := m.BaseVersion
	if len(m.ServerRecord) > 0 {
		var w recordWire
		if err := json.Unmarshal(m.ServerRecord, &w); err == nil && w.Version != "" {
			base = w.Version
		}
	}
	if op == sdk.OpCreate {
		base = ""
	}
	return tx.UpdateMutations([]int64{m.ID}, map[string]any{"status": store.MutationPending, "parked": false,
		"force": false, "reason": "", "op_id": 0, "op": string(op), "fields": encodeFields(fields), "base_version": base})
}

// reviveDead re-sends a dead letter's op under its own key: the effect of
// the earlier attempts is unknown, so only the same key is safe.
func (p *Pusher) reviveDead(tx *store.PushTx, m store.PushMutation, now time.Time) error {
	op, ok, err := tx.Op(m.OpID)
	if err != nil {
		return err
	}
	if !ok {
		return tx.UpdateMutations([]int64{m.ID}, map[string]any{"status": store.MutationPending, "reason": "", "op_id": 0})
	}
	muts, err := tx.OpMutations(op.ID)
	if err != nil {
		return err
	}
	var revive []int64
	for _, x := range muts {
		if x.Status == store.MutationDead {
			revive = append(revive, x.ID)
		}
	}
	if err := tx.UpdateOp(op.ID, map[string]any{"dead": false, "attempts": 0, "next_attempt_at": now, "last_error": ""}); err != nil {
		return err
	}
	return tx.UpdateMutations(revive, map[string]any{"status": store.MutationInflight, "reason": ""})
}

// discardDead drops a dead letter's op; its mutations get status.
func (p *Pusher) discardDead(tx *store.PushTx, m store.PushMutation, status string, now time.Time) error {
	var muts []store.PushMutation
	if m.OpID != 0 {
		var err error
		if muts, err = tx.OpMutations(m.OpID); err != nil {
			return err
		}
		if err := tx.DeleteOps(m.OpID); err != nil {
			return err
		}
	}
	var all []int64
	for _, x := range muts {
		if x.Status == store.MutationDead {
			all = append(all, x.ID)
		}
	}
	if !slices.Contains(all, m.ID) {
		all = append(all, m.ID)
	}
	cols := map[string]any{"status": status, "op_id": 0}
	switch status {
	case store.MutationDropped:
		cols["resolved_at"], cols["reason"] = now, "dropped: the server's record was kept (take_server)"
	case store.MutationDiscarded:
		cols["resolved_at"], cols["reason"] = now, "discarded by an administrator"
	}
	return tx.UpdateMutations(all, cols)
}

// DeadLetter is a mutation the hub gave up delivering, for admins.
type DeadLetter struct {
	ID         string    `json:"id"`
	MutationID string    `json:"mutation_id"`
	UserID     int64     `json:"user_id"`
	DeviceID   int64     `json:"device_id"`
	Entity     string    `json:"entity"`
	RecordID   string    `json:"record_id"`
	Op         string    `json:"op"`
	Reason     string    `json:"reason"`
	CreatedAt  time.Time `json:"created_at"`
}

// DeadLetters lists source's dead letters, oldest first, at most limit.
func (p *Pusher) DeadLetters(ctx context.Context, source string, limit int) ([]DeadLetter, error) {
	if _, err := p.source(source); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1000
	}
	rows, err := p.st.MutationsWithStatus(ctx, source, []string{store.MutationDead}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(rows))
	for _, r := range rows {
		out = append(out, DeadLetter{ID: strconv.FormatInt(r.ID, 10), MutationID: r.MutationID, UserID: r.UserID,
			DeviceID: r.DeviceID, Entity: r.Entity, RecordID: r.RecordID, Op: r.Op, Reason: r.Reason, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// RetryDeadLetter re-sends a dead letter (and the mutations sharing its
// op) under its original key, and queues a push.
func (p *Pusher) RetryDeadLetter(ctx context.Context, source, id string) error {
	err := p.deadLetter(ctx, source, id, func(tx *store.PushTx, m store.PushMutation) error {
		return p.reviveDead(tx, m, p.now())
	})
	if err != nil {
		return err
	}
	if err := p.Trigger(ctx, source); err != nil {
		p.log.Warn("dead letter revived, but the push could not be queued; the sweep will send it", "source", source, "error", err)
	}
	return nil
}

// DiscardDeadLetter gives a dead letter up for good.
func (p *Pusher) DiscardDeadLetter(ctx context.Context, source, id string) error {
	return p.deadLetter(ctx, source, id, func(tx *store.PushTx, m store.PushMutation) error {
		return p.discardDead(tx, m, store.MutationDiscarded, p.now())
	})
}

func (p *Pusher) deadLetter(ctx context.Context, source, id string, fn func(*store.PushTx, store.PushMutation) error) error {
	if _, err := p.source(source); err != nil {
		return err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("dead letter %q: %w", id, ErrNotFound)
	}
	return p.st.PushTx(ctx, func(tx *store.PushTx) error {
		m, err := tx.Mutation(n)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (m.Source != source || m.Status != store.MutationDead)) {
			return fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return fn(tx, m)
	})
}
