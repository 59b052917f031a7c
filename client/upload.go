package client

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// upload sends the source's unsent change-log entries in batches, oldest
// first. Entries are marked "sending" in their own transaction before the
// call: whatever happens to the answer, they are re-sent unchanged (same
// mutation ids, which the hub dedupes) and never coalesced again.
//
// A pending entry waits while an earlier entry of the same record is still
// in the log (sent but not applied, or a sync error): it depends on it, and
// its base version is only known once the earlier one is applied (the
// download rebases it then). An update of a record whose create is still
// in flight would otherwise go out with no base version at all.
func (c *Client) upload(ctx context.Context, src string, rep *SourceReport, emit func(Event)) (err error) {
	start := c.now()
	var total int64
	if err := sendable(c.db.WithContext(ctx).Model(&changeRow{}), src, 0).Count(&total).Error; err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	entities := map[string]bool{}
	defer func() {
		rep.Entities = max(rep.Entities, len(entities))
		d := c.now().Sub(start)
		rep.UploadTime += d
		summary := fmt.Sprintf("UploadSync Entities=%d Sent=%d Rejected=%d SvrCalls=%d TotalTime=%s",
			rep.Entities, rep.Sent, rep.Rejected, rep.UploadCalls, rep.UploadTime.Round(time.Millisecond))
		c.writeLog(ctx, start, src, "UploadSync", summary, d, err)
		ev := Event{Source: src, Phase: PhaseUpload, Step: "end", Done: int64(rep.Sent + rep.Rejected), Total: total, Message: summary}
		if err != nil {
			ev.Error = err.Error()
		}
		emit(ev)
	}()
	if total == 0 {
		return nil
	}
	emit(Event{Source: src, Phase: PhaseUpload, Step: "start", Total: total})
	var after int64
	for {
		var batch []changeRow
		err := c.txn(ctx, func(tx *gorm.DB) error {
			if err := sendable(tx, src, after).Order("seq").Limit(c.opts.BatchSize).Find(&batch).Error; err != nil {
				return err
			}
			seqs := make([]int64, 0, len(batch))
			for _, r := range batch {
				seqs = append(seqs, r.Seq)
			}
			if len(seqs) == 0 {
				return nil
			}
			now := c.now().UTC()
			return tx.Model(&changeRow{}).Where("seq IN ?", seqs).Updates(map[string]any{"state": stateSending, "sent_at": &now}).Error
		})
		if err != nil {
			return fmt.Errorf("upload %s: mark batch: %w", src, err)
		}
		if len(batch) == 0 {
			return nil
		}
		after = batch[len(batch)-1].Seq
		body := wireMutations{Mutations: make([]wireMutation, 0, len(batch))}
		for _, r := range batch {
			entities[r.Entity] = true
			m := wireMutation{MutationID: r.MutationID, Entity: r.Entity, Op: r.Op, ID: r.RecordID,
				BaseVersion: r.BaseVersion, ClientTime: r.ClientTime.UTC(), Group: r.Group}
			if r.Op != OpDelete {
				if m.Fields, err = decodeFields([]byte(r.Fields)); err != nil {
					return fmt.Errorf("upload %s: mutation %s: %w", src, r.MutationID, err)
				}
			}
			body.Mutations = append(body.Mutations, m)
		}
		var res wireMutationResult
		rep.UploadCalls++
		if err := c.callJSON(ctx, "POST", sourcePath(src, "/mutations"), nil, body, &res); err != nil {
			return fmt.Errorf("upload %s: %d mutations: %w", src, len(batch), err)
		}
		err = c.txn(ctx, func(tx *gorm.DB) error {
			if len(res.Accepted) > 0 {
				if err := tx.Model(&changeRow{}).Where("mutation_id IN ? AND state = ?", res.Accepted, stateSending).
					Updates(map[string]any{"state": stateSent, "reason": ""}).Error; err != nil {
					return err
				}
			}
			for _, r := range res.Rejected {
				if err := tx.Model(&changeRow{}).Where("mutation_id = ? AND state = ?", r.MutationID, stateSending).
					Updates(map[string]any{"state": stateError, "reason": r.Reason}).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("upload %s: record answer: %w", src, err)
		}
		rep.Sent += len(res.Accepted)
		rep.Rejected += len(res.Rejected)
		for _, r := range res.Rejected {
			c.log.Warn("mutation rejected", "source", src, "mutation_id", r.MutationID, "reason", r.Reason)
		}
		emit(Event{Source: src, Phase: PhaseUpload, Step: "progress", Done: int64(rep.Sent + rep.Rejected), Total: total})
	}
}

// sendable selects the entries an upload sends: those in flight, and
// pending ones with no earlier entry of their record still in the log.
func sendable(tx *gorm.DB, src string, after int64) *gorm.DB {
	return tx.Where("source = ? AND seq > ? AND (state = ? OR (state = ? AND NOT EXISTS ("+
		"SELECT 1 FROM change_log e WHERE e.source = change_log.source AND e.entity = change_log.entity "+
		"AND e.record_id = change_log.record_id AND e.seq < change_log.seq)))",
		src, after, stateSending, statePending)
}

// countSendable counts what an upload would send now.
func (c *Client) countSendable(ctx context.Context, src string) (int64, error) {
	var n int64
	if err := sendable(c.db.WithContext(ctx).Model(&changeRow{}), src, 0).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("upload %s: %w", src, err)
	}
	return n, nil
}
