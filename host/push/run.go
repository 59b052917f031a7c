package push

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Result is what one push run of a source did.
type Result struct {
	Source string
	// Deferred: another run of the source was under way in this process;
	// it goes round once more instead.
	Deferred bool
	// Rounds counts plan-and-send rounds, Calls Upload calls, Ops the ops
	// sent.
	Rounds, Calls, Ops int
}

// PushSource pushes the source's due mutations now: it plans ops, sends
// them and records the results, round after round, until nothing more is
// due. It waits for a run of the source already under way in this process,
// and fails with store.ErrLeaseHeld when another hub instance pushes the
// source.
func (p *Pusher) PushSource(ctx context.Context, source string) (Result, error) {
	return p.push(ctx, source, true)
}

// push runs the source; without wait, a run already under way is marked to
// go round again and push returns at once (queued jobs).
func (p *Pusher) push(ctx context.Context, source string, wait bool) (res Result, err error) {
	res.Source = source
	src, err := p.source(source)
	if err != nil {
		return res, fmt.Errorf("push %s: %w", source, err)
	}
	if p.stopRequested() {
		return res, fmt.Errorf("push %s: %w", source, ErrStopping)
	}
	ok, err := p.acquire(ctx, source, wait)
	if err != nil || !ok {
		res.Deferred = err == nil
		return res, err
	}
	released := false
	defer func() {
		if !released {
			p.release(source)
		}
	}()
	lease, err := p.st.TryLease(ctx, "push:"+source)
	if err != nil {
		return res, fmt.Errorf("push %s: %w", source, err)
	}
	defer lease()
	for {
		r, err := p.newRunner(ctx, src)
		if err == nil {
			err = r.drain(ctx, &res)
		}
		if err != nil {
			return res, fmt.Errorf("push %s: %w", source, err)
		}
		if !p.again(source) {
			released = true
			break
		}
	}
	p.scheduleNext(context.WithoutCancel(ctx), source)
	return res, nil
}

func (p *Pusher) acquire(ctx context.Context, source string, wait bool) (bool, error) {
	for {
		p.mu.Lock()
		r := p.runs[source]
		if r == nil {
			r = &run{}
			p.runs[source] = r
		}
		if !r.running {
			r.running, r.dirty, r.done = true, false, make(chan struct{})
			p.mu.Unlock()
			return true, nil
		}
		if !wait {
			r.dirty = true
			p.mu.Unlock()
			return false, nil
		}
		done := r.done
		p.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// again ends a run, unless a request came meanwhile: then the run goes
// round once more. The check and the release are one step under p.mu, so
// no request is left behind.
func (p *Pusher) again(source string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.runs[source]
	if r.dirty {
		r.dirty = false
		return true
	}
	r.running = false
	close(r.done)
	return false
}

func (p *Pusher) release(source string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.runs[source]
	r.running = false
	close(r.done)
}

// runner is one drain of one source.
type runner struct {
	p      *Pusher
	src    *config.Source
	schema sdk.Schema
	desc   sdk.Description
	client sdk.Client
	rank   map[string]int
	log    hclog.Logger

	// dbMu orders the run's transactions: a plan and the recording of
	// answers never run at once, so a plan sees either an op on its way
	// (inFlight) or its recorded result, never a result half-known.
	dbMu sync.Mutex
	// inFlight are the ops this run has planned to send (due) and not
	// recorded yet, as the plan had them: a plan does not hand them out
	// again, nor read them again. An op left in the table by a crash or an
	// earlier run is not in it, so it is due again.
	inFlight map[int64]store.PushOp
	// carried are the mutations of the ops the run's plans froze, by op
	// (planner.carried), until the recorder has taken them.
	carried map[int64][]store.PushMutation
}

func (p *Pusher) newRunner(ctx context.Context, src *config.Source) (*runner, error) {
	schema, err := p.schema(ctx, src)
	if err != nil {
		return nil, err
	}
	desc, err := p.describe(ctx, src)
	if err != nil {
		return nil, err
	}
	client, err := p.opts.Client(src.Name)
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}
	return &runner{p: p, src: src, schema: schema, desc: desc, client: client, rank: entityRank(src),
		log: p.log.With("source", src.Name), inFlight: map[int64]store.PushOp{}, carried: map[int64][]store.PushMutation{}}, nil
}

// errAbandoned is what a test's afterUpload hook returns to simulate a
// crash between an Upload and the commit of its results.
var errAbandoned = errors.New("results abandoned")

// drain plans and sends until nothing is due and nothing is on its way.
// The first plan takes only as many waiting mutations as the first Upload
// calls carry, so they go out at once; each later plan takes a few calls'
// worth while the batches already planned are on their way (the sender's
// queue holds them), so the hub's planning overlaps the plugin's and the
// back end's work instead of preceding it. A plan that could do nothing
// with its share of the waiting mutations (they wait for what is on its
// way, or for what follows them) is followed by plans of them all, as is
// a run whose plans find most of their share waiting.
func (r *runner) drain(ctx context.Context, res *Result) error {
	size := batchSize(r.src, r.desc)
	s := r.startSender(ctx, res)
	limit := UploadsInFlight * size
	err := func() error {
		for {
			if r.p.stopRequested() {
				return ErrStopping
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.failed(); err != nil {
				return err
			}
			res.Rounds++
			mark := s.settledAt()
			p, err := r.plan(ctx, limit)
			if err != nil {
				return err
			}
			switch {
			case p.more && p.progress*4 < limit:
				// Most of the share waits: plans of everything from now on.
				limit = 0
			case limit > 0:
				limit = planAhead * size
			}
			if len(p.due) > 0 {
				if err := s.send(p.due); err != nil {
					return err
				}
				continue
			}
			if p.progress > 0 || p.more {
				continue
			}
			// Nothing to do now: what is on its way, or was recorded while
			// the plan ran, may free more.
			if !s.waitRecorded(mark) {
				return nil
			}
		}
	}()
	return s.finish(err)
}

// entity returns the config and schema of one of the source's entities.
func (r *runner) entity(name string) (*config.Entity, sdk.EntitySchema, error) {
	ent, ok := r.src.Entity(name)
	if !ok {
		return nil, sdk.EntitySchema{}, fmt.Errorf("entity %q is no longer configured", name)
	}
	es, ok := r.schema.Entity(name)
	if !ok {
		return nil, sdk.EntitySchema{}, fmt.Errorf("the connector does not describe entity %q", name)
	}
	return ent, es, nil
}

// sortOps orders ops parents first, then oldest first; second passes
// (lookups) after the records they may point to; deletes last, children
// first, so that no delete leaves a record pointing nowhere.
func (r *runner) sortOps(ops []store.PushOp) {
	n := len(r.rank)
	// Each op's rank is computed once: the ops are large to compare.
	type ranked struct {
		key, i int
		id     int64
	}
	ks := make([]ranked, len(ops))
	sorted := true
	for i := range ops {
		op := &ops[i]
		k := r.rank[op.Entity]
		switch {
		case op.Kind == string(sdk.OpDelete):
			k = 2*n + (n - k)
		case op.SecondPass:
			k = n + k
		}
		ks[i] = ranked{key: k, i: i, id: op.ID}
		if i > 0 && (ks[i-1].key > k || ks[i-1].key == k && ks[i-1].id > op.ID) {
			sorted = false
		}
	}
	if sorted {
		return
	}
	slices.SortStableFunc(ks, func(a, b ranked) int {
		if a.key != b.key {
			return a.key - b.key
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]store.PushOp, len(ops))
	for j, k := range ks {
		out[j] = ops[k.i]
	}
	copy(ops, out)
}

func (r *runner) now() time.Time { return r.p.now() }
