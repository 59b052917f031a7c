package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// sendDue sends the due ops, parents first, in batches of the batch size,
// each group in one atomic call, and records each batch's results in one
// transaction. It returns how many ops it sent.
func (r *runner) sendDue(ctx context.Context, res *Result, ops []store.PushOp) (int, error) {
	if len(ops) == 0 {
		return 0, nil
	}
	r.sortOps(ops)
	size := batchSize(r.src, r.desc)
	var batches [][]store.PushOp
	var plain []store.PushOp
	seen := map[string]bool{}
	for _, op := range ops {
		if op.GroupKey == "" {
			plain = append(plain, op)
			if len(plain) == size {
				batches, plain = append(batches, plain), nil
			}
			continue
		}
		if seen[op.GroupKey] {
			continue
		}
		seen[op.GroupKey] = true
		if len(plain) > 0 {
			batches, plain = append(batches, plain), nil
		}
		var g []store.PushOp
		for _, o := range ops {
			if o.GroupKey == op.GroupKey {
				g = append(g, o)
			}
		}
		batches = append(batches, g)
	}
	if len(plain) > 0 {
		batches = append(batches, plain)
	}
	sent := 0
	for _, b := range batches {
		if r.p.stopRequested() {
			return sent, ErrStopping
		}
		if err := r.sendBatch(ctx, b); err != nil {
			return sent, err
		}
		sent += len(b)
		res.Calls++
		res.Ops += len(b)
	}
	return sent, nil
}

// sendBatch makes one Upload call and records its results.
func (r *runner) sendBatch(ctx context.Context, batch []store.PushOp) error {
	atomic := batch[0].GroupKey != ""
	req := sdk.UploadRequest{Atomic: atomic, Ops: make([]sdk.Op, len(batch))}
	for i, op := range batch {
		fields, err := decodeFields(op.Fields)
		if err != nil {
			return fmt.Errorf("op %d: stored fields: %w", op.ID, err)
		}
		if op.Kind == string(sdk.OpDelete) {
			fields = nil
		}
		req.Ops[i] = sdk.Op{MutationID: op.Key, Entity: op.Entity, Kind: sdk.OpKind(op.Kind), ID: op.RecordID,
			BaseVersion: op.BaseVersion, Fields: fields}
	}
	cctx, cancel := context.WithTimeout(ctx, r.p.opts.CallTimeout)
	start := time.Now()
	resp, upErr := r.client.Upload(cctx, req)
	cancel()
	r.p.m.upload.WithLabelValues(r.src.Name).Observe(time.Since(start).Seconds())
	if hook := r.p.afterUpload; hook != nil {
		if herr := hook(r.src.Name); herr != nil {
			return herr
		}
	}
	if upErr != nil && ctx.Err() != nil {
		// Stopping: the answer is unknown and nothing is recorded; the
		// ops go again, under the same keys, next time.
		return ctx.Err()
	}
	results := map[string]sdk.OpResult{}
	if upErr == nil {
		for _, res := range resp.Results {
			results[res.MutationID] = res
		}
	}
	rec := &recorder{r: r, now: r.now()}
	err := r.p.st.PushTx(context.WithoutCancel(ctx), func(tx *store.PushTx) error {
		rec.tx = tx
		rec.reset()
		if err := rec.load(batch); err != nil {
			return err
		}
		if upErr != nil {
			return rec.transient(batch, upErr.Error(), retryAfter(upErr))
		}
		if atomic {
			if err := rec.group(batch, results); err != nil {
				return err
			}
			return rec.flush()
		}
		for _, op := range batch {
			if err := rec.result(op, results); err != nil {
				return err
			}
		}
		return rec.flush()
	})
	if err != nil {
		return fmt.Errorf("record results: %w", err)
	}
	rec.published()
	return nil
}

// retryAfter is the back end's Retry-After carried by an Upload error.
func retryAfter(err error) time.Duration {
	var se *sdk.Error
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
