package push

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// conflict applies the entity's conflict policy to an op that met a newer
// server record (stale), no record (gone) or a record with its id (taken).
func (rc *recorder) conflict(op store.PushOp, muts []store.PushMutation, server *sdk.Record, sit situation) error {
	ent, es, err := rc.r.entity(op.Entity)
	if err != nil {
		return err
	}
	device, err := decodeFields(op.Fields)
	if err != nil {
		return fmt.Errorf("op %d: stored fields: %w", op.ID, err)
	}
	var deferred map[string]any
	if len(op.Deferred) > 0 {
		if deferred, err = decodeFields(op.Deferred); err != nil {
			return fmt.Errorf("op %d: deferred fields: %w", op.ID, err)
		}
		maps.Copy(device, deferred)
	}
	if server != nil && server.Fields == nil {
		server.Fields = map[string]any{}
	}
	// The server already holds what the device sent: a replay whose first
	// answer was lost, or the same edit made twice. Done.
	if server != nil && sit != gone && op.Kind != string(sdk.OpDelete) && subset(device, server.Fields) {
		id := server.ID
		if id == "" {
			id = op.RecordID
		}
		return rc.applied(op, muts, sdk.OpResult{Status: sdk.StatusApplied, ID: id, Record: server})
	}
	in := conflictInput{Policy: ent.Conflict, TieBreak: ent.TieBreak, Owners: ent.FieldOwner, Kind: sdk.OpKind(op.Kind),
		Sit: sit, Device: device, Server: server, Writable: func(f string) bool { return writable(es, ent, f) }}
	if len(muts[0].BaseFields) > 0 {
		if in.Base, err = decodeFields(muts[0].BaseFields); err != nil {
			return fmt.Errorf("mutation %d: base fields: %w", muts[0].ID, err)
		}
	}
	for _, m := range muts {
		in.Forced = in.Forced || m.Force
		if m.ClientTime != nil && (in.ClientTime == nil || m.ClientTime.After(*in.ClientTime)) {
			t := *m.ClientTime
			in.ClientTime = &t
		}
	}
	v := decide(in)
	if v.Resend && op.Resends >= maxResends {
		v = verdict{Status: store.MutationConflict, Conflicting: v.Conflicting,
			Reason: fmt.Sprintf("the record kept changing on the server; gave up after %d re-sends", maxResends)}
	}
	if v.Resend {
		var lost []string
		if len(op.Lost) > 0 {
			_ = json.Unmarshal(op.Lost, &lost)
		}
		lost = append(lost, v.Lost...)
		slices.Sort(lost)
		lost = slices.Compact(lost)
		next := store.PushOp{Source: rc.r.src.Name, Key: newOpKey(), Entity: op.Entity, Kind: string(v.Kind),
			RecordID: op.RecordID, BaseVersion: v.BaseVersion, Fields: encodeFields(v.Fields), SecondPass: op.SecondPass,
			Resends: op.Resends + 1, NextAttemptAt: rc.now, CreatedAt: rc.now}
		if v.Kind == sdk.OpDelete {
			next.Fields = []byte("{}")
		}
		if len(lost) > 0 {
			next.Lost = mustJSON(lost)
		}
		if len(deferred) > 0 && !op.SecondPass && v.Kind != sdk.OpDelete {
			// Lookups deferred by a first pass still go in the second.
			for f := range deferred {
				delete(v.Fields, f)
			}
			next.Fields, next.Deferred = encodeFields(v.Fields), op.Deferred
		}
		return rc.replace(op, muts, &next, map[string]any{"server_record": recordJSON(server), "conflict_fields": mustJSON(v.Conflicting)})
	}
	switch sit {
	case gone:
		if _, err := rc.tx.ApplyMirror(store.Batch{Source: rc.r.src.Name, Entity: op.Entity, Remove: []string{op.RecordID}}); err != nil {
			return err
		}
	default:
		if err := rc.serverRecord(op, server); err != nil {
			return err
		}
	}
	return rc.fail(op, muts, v.Status, v.Reason, server, v.Conflicting, v.Park)
}

// serverRecord writes the server's record, met in a conflict, to the
// mirror: the devices' view converges to the back end's.
func (rc *recorder) serverRecord(op store.PushOp, server *sdk.Record) error {
	if server == nil {
		return nil
	}
	ent, es, err := rc.r.entity(op.Entity)
	if err != nil {
		return err
	}
	rec := *server
	if rec.ID == "" {
		rec.ID = op.RecordID
	}
	puts, removes, err := pull.MirrorRecords(rc.r.src, ent, es, []sdk.Record{rec})
	if err != nil {
		return fmt.Errorf("mirror the server's record of op %d: %w", op.ID, err)
	}
	br, err := rc.tx.ApplyMirror(store.Batch{Source: rc.r.src.Name, Entity: op.Entity, Put: puts, Remove: removes})
	if err != nil {
		return err
	}
	rc.note(br)
	return nil
}
