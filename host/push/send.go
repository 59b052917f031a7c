package push

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// sendDue sends the due ops, parents first, in batches of the batch size,
// each group in one atomic call, and records each batch's results in one
// transaction (sendBatches). It returns how many ops it sent.
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
	return r.sendBatches(ctx, res, batches)
}

// uploadsInFlight is how many Upload calls of one source may wait for
// their answers at once.
const uploadsInFlight = 2

// sending is a batch on its way: done gets its Upload's answer.
type sending struct {
	batch []store.PushOp
	done  chan sent
}

type sent struct {
	up  uploaded
	err error
}

// sendBatches sends the batches and records their results. Up to
// uploadsInFlight Upload calls wait for their answers at once while one
// goroutine records the answers, in the order the batches were sent, each
// in one transaction: the hub's database work overlaps the plugin's and the
// back end's. The ops of one round are independent of each other (one op
// per record; an op that needs another's result waits for a later round),
// but deletes go children first: a batch with a delete waits for every
// call before it, so a parent is never deleted before its children.
func (r *runner) sendBatches(ctx context.Context, res *Result, batches [][]store.PushOp) (int, error) {
	var (
		mu       sync.Mutex
		firstErr error
		calls    sync.WaitGroup
		slots    = make(chan struct{}, uploadsInFlight)
		queue    = make(chan *sending, len(batches))
		recorded = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	go func() {
		defer close(recorded)
		var next *sending // taken from the queue, its answer not in yet
		for {
			s := next
			next = nil
			if s == nil {
				var ok bool
				if s, ok = <-queue; !ok {
					return
				}
			}
			a := <-s.done
			// Answers already in go into the same transaction (up to
			// maxRecordBatches), in order.
			answered := []answeredBatch{{s.batch, a}}
			for a.err == nil && len(answered) < maxRecordBatches {
				if next == nil {
					select {
					case n, ok := <-queue:
						if !ok {
							break
						}
						next = n
					default:
					}
				}
				if next == nil {
					break
				}
				select {
				case na := <-next.done:
					if na.err != nil {
						next.done <- na // recorded on its own, below
						break
					}
					answered, next = append(answered, answeredBatch{next.batch, na}), nil
					continue
				default:
				}
				break
			}
			switch {
			case failed() != nil:
				// After a failure nothing more is recorded: the ops not
				// recorded go again, under the same keys, next time.
			case a.err != nil:
				fail(a.err)
			default:
				if err := r.record(ctx, answered); err != nil {
					fail(err)
				}
			}
		}
	}()
	count, stopping := 0, false
	for _, b := range batches {
		if failed() != nil {
			break
		}
		if r.p.stopRequested() {
			// The calls already made are recorded first.
			stopping = true
			break
		}
		if slices.ContainsFunc(b, func(op store.PushOp) bool { return op.Kind == string(sdk.OpDelete) }) {
			calls.Wait()
		}
		slots <- struct{}{}
		if r.p.stopRequested() {
			// The stop came while this batch waited for a slot: it is not
			// in flight, so it is not sent.
			<-slots
			stopping = true
			break
		}
		s := &sending{batch: b, done: make(chan sent, 1)}
		calls.Add(1)
		go func() {
			defer calls.Done()
			up, err := r.upload(ctx, s.batch)
			<-slots
			s.done <- sent{up, err}
		}()
		queue <- s
		count += len(b)
		res.Calls++
		res.Ops += len(b)
	}
	close(queue)
	<-recorded
	if err := failed(); err != nil || !stopping {
		return count, err
	}
	return count, ErrStopping
}

// uploaded is the answer to one batch's Upload call.
type uploaded struct {
	results map[string]sdk.OpResult
	err     error
}

// upload makes one Upload call. It fails only when nothing may be
// recorded (the hub is stopping, or a test abandons the results); the
// call's own failure is in the answer, for record.
func (r *runner) upload(ctx context.Context, batch []store.PushOp) (uploaded, error) {
	atomic := batch[0].GroupKey != ""
	// The ops' fields go to the plugin as they are stored, and the
	// records it answers come back as JSON: the hub decodes neither unless
	// a result needs it.
	req := sdk.UploadRequest{Atomic: atomic, RawResults: true, Ops: make([]sdk.Op, len(batch))}
	for i, op := range batch {
		req.Ops[i] = sdk.Op{MutationID: op.Key, Entity: op.Entity, Kind: sdk.OpKind(op.Kind), ID: op.RecordID,
			BaseVersion: op.BaseVersion}
		if op.Kind != string(sdk.OpDelete) {
			req.Ops[i].Raw = op.Fields
		}
	}
	cctx, cancel := context.WithTimeout(ctx, r.p.opts.CallTimeout)
	start := time.Now()
	resp, upErr := r.client.Upload(cctx, req)
	cancel()
	r.p.m.upload.WithLabelValues(r.src.Name).Observe(time.Since(start).Seconds())
	if hook := r.p.afterUpload; hook != nil {
		r.p.hookMu.Lock()
		herr := hook(r.src.Name)
		r.p.hookMu.Unlock()
		if herr != nil {
			return uploaded{}, herr
		}
	}
	if upErr != nil && ctx.Err() != nil {
		// Stopping: the answer is unknown and nothing is recorded; the
		// ops go again, under the same keys, next time.
		return uploaded{}, ctx.Err()
	}
	up := uploaded{err: upErr}
	if upErr != nil {
		return up, nil
	}
	plain := make(map[string]bool, len(batch))
	for _, op := range batch {
		plain[op.Key] = len(op.Lost) == 0
	}
	up.results = make(map[string]sdk.OpResult, len(resp.Results))
	for _, res := range resp.Results {
		// An applied record goes to the mirror as JSON; the conflict
		// policies and sync errors read a record's fields.
		if res.Record != nil && res.Record.Fields == nil && !(res.Status == sdk.StatusApplied && plain[res.MutationID]) {
			f, err := res.Record.FieldMap()
			if err != nil {
				return uploaded{err: &sdk.Error{Code: sdk.CodeBadResponse, Summary: err.Error()}}, nil
			}
			rec := *res.Record
			rec.Fields, rec.Raw = f, nil
			res.Record = &rec
		}
		up.results[res.MutationID] = res
	}
	return up, nil
}

// maxRecordBatches is how many answered batches one transaction records
// at most.
const maxRecordBatches = 4

// answeredBatch is a batch and its Upload's answer.
type answeredBatch struct {
	batch []store.PushOp
	sent  sent
}

// record records the results of answered batches in one transaction, each
// batch as if on its own (its own recorder and flush).
func (r *runner) record(ctx context.Context, answered []answeredBatch) error {
	recs := make([]*recorder, len(answered))
	err := r.p.st.PushTx(context.WithoutCancel(ctx), func(tx *store.PushTx) error {
		for i, ab := range answered {
			recs[i] = &recorder{r: r, now: r.now(), tx: tx}
			recs[i].reset()
			if err := recs[i].recordBatch(ab.batch, ab.sent.up); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record results: %w", err)
	}
	for _, rec := range recs {
		rec.published()
	}
	return nil
}

// recordBatch records one batch's results.
func (rc *recorder) recordBatch(batch []store.PushOp, up uploaded) error {
	if err := rc.load(batch); err != nil {
		return err
	}
	if up.err != nil {
		return rc.transient(batch, up.err.Error(), retryAfter(up.err))
	}
	if batch[0].GroupKey != "" {
		if err := rc.group(batch, up.results); err != nil {
			return err
		}
		return rc.flush()
	}
	for _, op := range batch {
		if err := rc.result(op, up.results); err != nil {
			return err
		}
	}
	return rc.flush()
}

// retryAfter is the back end's Retry-After carried by an Upload error.
func retryAfter(err error) time.Duration {
	var se *sdk.Error
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
