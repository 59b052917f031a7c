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

// batches cuts due ops into Upload calls: parents first, in batches of the
// batch size, each group in a call of its own (an atomic one).
func (r *runner) batches(ops []store.PushOp) [][]store.PushOp {
	r.sortOps(ops)
	size := batchSize(r.src, r.desc)
	var batches [][]store.PushOp
	if !slices.ContainsFunc(ops, func(op store.PushOp) bool { return op.GroupKey != "" }) {
		// No group: the batches are runs of ops as sorted, sharing their
		// array, each capped at its own end.
		for from := 0; from < len(ops); from += size {
			end := min(from+size, len(ops))
			batches = append(batches, ops[from:end:end])
		}
		return batches
	}
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
	return batches
}

// UploadsInFlight is how many Upload calls of one source may wait for
// their answers at once. More calls on their way hide more of a back end's
// latency, and answers that come in together are recorded in one
// transaction: against the emulator (P5 of docs/BENCHMARKS.md) the apply
// stage took about a tenth less time, and less CPU, with 4 than with 2,
// and a real back end's round trips are longer still. It stays under the
// back ends' limits on concurrent requests (Dataverse 52 per user,
// Business Central 5 per user, queued beyond), leaving room for pulls.
const UploadsInFlight = 4

// planAhead is how many batches' worth of waiting mutations a plan after
// a run's first takes, and how many planned batches wait in the sender's
// queue while the calls before them are on their way.
const planAhead = 8

// sending is a batch on its way: done gets its Upload's answer.
type sending struct {
	batch []store.PushOp
	done  chan sent
}

type sent struct {
	up  uploaded
	err error
}

// sender sends a run's batches and records their answers. Up to
// UploadsInFlight Upload calls wait for their answers at once while one
// goroutine records the answers, in the order the batches were sent,
// several in one transaction when they are in: the hub's database work
// overlaps the plugin's and the back end's. Ops planned apart are
// independent of each other (one op per record; an op that needs
// another's result waits for a later plan), but deletes go children
// first: a batch with a delete waits for every call before it, so a
// parent is never deleted before its children.
type sender struct {
	r   *runner
	ctx context.Context
	res *Result
	// todo are the batches planned and not sent yet, in order.
	todo chan []store.PushOp
	// ended is closed when every batch handed to send is recorded or
	// dropped.
	ended chan struct{}

	mu   sync.Mutex
	cond *sync.Cond // on mu: outstanding fell, or a failure came
	// firstErr: after a failure nothing more is sent or recorded; the
	// ops not recorded go again, under the same keys, next time.
	firstErr error
	// halted: nothing more is sent (a stop, or the run ends with an
	// error); the calls made are still recorded.
	halted   bool
	stopping bool // a batch was not sent because of a stop
	// outstanding counts the batches handed to send and not yet recorded
	// or dropped, settledTotal those recorded or dropped.
	outstanding, settledTotal int
}

// startSender starts the goroutines that send and record the batches
// handed to send; finish ends them.
func (r *runner) startSender(ctx context.Context, res *Result) *sender {
	s := &sender{r: r, ctx: ctx, res: res, todo: make(chan []store.PushOp, planAhead), ended: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	queue := make(chan *sending, planAhead+UploadsInFlight)
	go s.dispatch(queue)
	go func() {
		defer close(s.ended)
		s.recordAll(queue)
	}()
	return s
}

// send hands the due ops of a plan to the sender, cut into batches. It
// waits while the sender's queue is full.
func (s *sender) send(ops []store.PushOp) error {
	for _, b := range s.r.batches(ops) {
		if err := s.failed(); err != nil {
			return err
		}
		s.mu.Lock()
		s.outstanding++
		s.mu.Unlock()
		s.todo <- b
	}
	return nil
}

// waitRecorded waits until every batch handed to send is recorded (or
// dropped, or a failure came). It reports whether any batch was settled
// since settledAt gave mark, waiting or not: what was recorded may have
// freed more to plan.
func (s *sender) waitRecorded(mark int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.outstanding > 0 && s.firstErr == nil {
		s.cond.Wait()
	}
	return s.settledTotal != mark
}

// settledAt returns a mark of how many batches are settled so far.
func (s *sender) settledAt() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settledTotal
}

// finish ends the sender: after err (the run's own failure or stop)
// nothing more is sent, and what was sent is recorded. It returns the
// first failure, or ErrStopping when a stop kept a batch from going.
func (s *sender) finish(err error) error {
	if err != nil {
		s.mu.Lock()
		s.halted = true
		s.mu.Unlock()
	}
	close(s.todo)
	<-s.ended
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.firstErr != nil:
		return s.firstErr
	case err != nil:
		return err
	case s.stopping:
		return ErrStopping
	}
	return nil
}

func (s *sender) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == nil {
		s.firstErr = err
	}
	s.cond.Broadcast()
}

func (s *sender) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstErr
}

// settled notes that n batches were recorded or dropped.
func (s *sender) settled(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outstanding -= n
	s.settledTotal += n
	s.cond.Broadcast()
}

// held reports whether the next batch must stay unsent; a stop
// requested now halts the sender.
func (s *sender) held() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.halted && s.firstErr == nil && s.r.p.stopRequested() {
		s.halted, s.stopping = true, true
	}
	return s.halted || s.firstErr != nil
}

// dispatch makes the Upload calls, UploadsInFlight at most at once, and
// queues them for the recorder in the order they were made.
func (s *sender) dispatch(queue chan<- *sending) {
	defer close(queue)
	slots := make(chan struct{}, UploadsInFlight)
	var calls sync.WaitGroup
	for b := range s.todo {
		if s.held() {
			s.settled(1)
			continue
		}
		if slices.ContainsFunc(b, func(op store.PushOp) bool { return op.Kind == string(sdk.OpDelete) }) {
			calls.Wait()
		}
		slots <- struct{}{}
		if s.held() {
			// The stop came while this batch waited for a slot: it is not
			// in flight, so it is not sent.
			<-slots
			s.settled(1)
			continue
		}
		sd := &sending{batch: b, done: make(chan sent, 1)}
		calls.Add(1)
		go func() {
			defer calls.Done()
			up, err := s.r.upload(s.ctx, sd.batch)
			<-slots
			sd.done <- sent{up, err}
		}()
		queue <- sd
		s.res.Calls++
		s.res.Ops += len(b)
	}
}

// recordAll records the answers in the order the calls were made, each
// transaction taking the answers already in (up to maxRecordBatches).
func (s *sender) recordAll(queue <-chan *sending) {
	var next *sending // taken from the queue, its answer not in yet
	for {
		sd := next
		next = nil
		if sd == nil {
			var ok bool
			if sd, ok = <-queue; !ok {
				return
			}
		}
		a := <-sd.done
		answered := []answeredBatch{{sd.batch, a}}
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
		case s.failed() != nil:
			// After a failure nothing more is recorded.
		case a.err != nil:
			s.fail(a.err)
		default:
			if err := s.r.record(s.ctx, answered); err != nil {
				s.fail(err)
			}
		}
		s.settled(len(answered))
	}
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

// record records the results of answered batches in one transaction. The
// batches are recorded as one: their ops are of distinct records (a plan
// never hands out an op of a record that has one on its way), so no
// batch's result depends on another's, and the mirror, the statuses and
// the ops are written once for all of them (flush).
func (r *runner) record(ctx context.Context, answered []answeredBatch) error {
	r.dbMu.Lock()
	defer r.dbMu.Unlock()
	var rc *recorder
	err := r.p.st.PushTx(context.WithoutCancel(ctx), func(tx *store.PushTx) error {
		rc = &recorder{r: r, now: r.now(), tx: tx}
		rc.reset()
		for _, ab := range answered {
			if err := rc.recordBatch(ab.batch, ab.sent.up); err != nil {
				return err
			}
		}
		return rc.flush()
	})
	if err != nil {
		return fmt.Errorf("record results: %w", err)
	}
	// The ops are settled: deleted, replaced, or due again later.
	for _, ab := range answered {
		for _, op := range ab.batch {
			delete(r.inFlight, op.ID)
			delete(r.carried, op.ID)
		}
	}
	rc.published()
	return nil
}

// recordBatch records one batch's results; flush writes them.
func (rc *recorder) recordBatch(batch []store.PushOp, up uploaded) error {
	if err := rc.load(batch); err != nil {
		return err
	}
	if up.err != nil {
		return rc.transient(batch, up.err.Error(), retryAfter(up.err))
	}
	if batch[0].GroupKey != "" {
		return rc.group(batch, up.results)
	}
	for _, op := range batch {
		if err := rc.result(op, up.results); err != nil {
			return err
		}
	}
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
