package pull

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Options configure a Puller.
type Options struct {
	Store  *store.Store
	Config *config.Config
	// Client returns the connector client of a source.
	Client func(source string) (sdk.Client, error)
	Logger hclog.Logger
	// Metrics registers the pull metrics; nil leaves them unregistered.
	Metrics prometheus.Registerer
	// Notify, when set, is called after each committed page that gave
	// partitions new items, with those partitions and the page's last seq.
	// It must not block.
	Notify func(source string, partitions []string, seq int64)

	// ReconcileInterval is how often an entity whose connector tracks no
	// deletions (Deletes "none") gets id-only reconciliation, at the end of
	// an incremental pull (default 1h; negative: every incremental pull).
	ReconcileInterval time.Duration
	// FreshWait bounds how long EnsureFresh waits for the pulls it
	// triggers (default 3s).
	FreshWait time.Duration
	// JobTimeout bounds one queued pull of a source (default 30m); an
	// interrupted pull resumes from its last committed page next time.
	JobTimeout time.Duration
	// PollInterval is how often the queue looks for due jobs (default 1s).
	PollInterval time.Duration
	// Workers is how many sources this instance pulls at once from the
	// queue (default 4).
	Workers int
	// BusyRetry is how long a queued pull waits when another hub instance
	// holds the source's lease (default 30s).
	BusyRetry time.Duration
	// Stages run their River jobs on the scheduler's client (see JobStage).
	Stages []JobStage
}

// Mode is how an entity was pulled.
type Mode string

// The modes.
const (
	ModeFull        Mode = "full"
	ModeIncremental Mode = "incremental"
)

// Result is what one entity pull did.
type Result struct {
	Source, Entity string
	// Mode is the pass that ran last: an incremental pull whose cursor
	// expired reports the full pass it fell back to.
	Mode Mode
	// Pages counts committed pages (of records and of deletions).
	Pages int
	// Changed, Removed and Unchanged count records; Reconciled counts the
	// removals made by reconciliation (included in Removed).
	Changed, Removed, Unchanged, Reconciled int
	// LastSeq is the highest seq the pull used, 0 when none.
	LastSeq  int64
	Duration time.Duration
}

func (r *Result) add(b store.BatchResult) {
	r.Pages++
	r.Changed += b.Changed
	r.Removed += b.Removed
	r.Unchanged += b.Unchanged
	r.Reconciled += b.Reconciled
	if b.LastSeq > r.LastSeq {
		r.LastSeq = b.LastSeq
	}
}

// Errors callers branch on.
var (
	// ErrBusy: another hub instance is pulling the source.
	ErrBusy = store.ErrLeaseHeld
	// ErrUnknown: the source or entity is not in the config.
	ErrUnknown = errors.New("not configured")
	// ErrStopping: the puller is stopping; the pull stopped after its last
	// committed page and resumes from there next time.
	ErrStopping = errors.New("puller stopping")
	// ErrNotStarted: the scheduler is not running.
	ErrNotStarted = errors.New("pull scheduler not started")
)

// Puller pulls sources' entities into the mirror and schedules pulls.
type Puller struct {
	opts Options
	st   *store.Store
	cfg  *config.Config
	log  hclog.Logger
	m    *metrics

	mu       sync.Mutex
	entities map[string]chan struct{} // "source\x00entity" -> lock
	leases   map[string]*lease
	pulled   chan struct{} // closed and replaced when an entity pull ends
	inflight map[string]bool
	// succeeded memoizes each entity's last successful pull as last read
	// ("source\x00entity" -> time), for EnsureFresh (staleEntities).
	succeeded map[string]time.Time

	stopOnce sync.Once
	stopping chan struct{}
	bg       sync.WaitGroup

	river *river.Client[*sql.Tx]
}

type lease struct {
	refs    int
	release func()
}

// New returns a Puller. Pulls can run at once; Start starts the scheduler.
func New(opts Options) *Puller {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.ReconcileInterval == 0 {
		opts.ReconcileInterval = time.Hour
	}
	if opts.FreshWait <= 0 {
		opts.FreshWait = 3 * time.Second
	}
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = 30 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.BusyRetry <= 0 {
		opts.BusyRetry = 30 * time.Second
	}
	return &Puller{
		opts:      opts,
		st:        opts.Store,
		cfg:       opts.Config,
		log:       opts.Logger.Named("pull"),
		m:         newMetrics(opts.Metrics),
		entities:  map[string]chan struct{}{},
		leases:    map[string]*lease{},
		pulled:    make(chan struct{}),
		inflight:  map[string]bool{},
		succeeded: map[string]time.Time{},
		stopping:  make(chan struct{}),
	}
}

func (p *Puller) lookup(source string, entities []string) (*config.Source, []*config.Entity, error) {
	src, ok := p.cfg.Source(source)
	if !ok {
		return nil, nil, fmt.Errorf("source %q: %w", source, ErrUnknown)
	}
	var out []*config.Entity
	if len(entities) == 0 {
		for i := range src.Entities {
			out = append(out, &src.Entities[i])
		}
		return src, out, nil
	}
	for _, name := range entities {
		e, ok := src.Entity(name)
		if !ok {
			return nil, nil, fmt.Errorf("entity %q of source %q: %w", name, source, ErrUnknown)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return src, out, nil
}

func (p *Puller) callTimeout() time.Duration {
	if d := p.cfg.Hub.CallTimeout; d > 0 {
		return d
	}
	return 2 * time.Minute
}

func (p *Puller) concurrency() int {
	if n := p.cfg.Hub.PullConcurrency; n > 0 {
		return n
	}
	return 4
}

// PullEntity pulls one entity now: incrementally, or in full when full is
// set, when there is no cursor, when a full pass was interrupted, or when
// the entity's schema or config changed. It waits while another pull of the
// same entity runs in this process, and fails with ErrBusy when another hub
// instance holds the source.
func (p *Puller) PullEntity(ctx context.Context, source, entity string, full bool) (Result, error) {
	src, ents, err := p.lookup(source, []string{entity})
	if err != nil {
		return Result{Source: source, Entity: entity}, fmt.Errorf("pull %s/%s: %w", source, entity, err)
	}
	release, err := p.acquireSource(ctx, source)
	if err != nil {
		return Result{Source: source, Entity: entity}, fmt.Errorf("pull %s/%s: %w", source, entity, err)
	}
	defer release()
	client, schema, err := p.connect(ctx, src, ents)
	if err != nil {
		p.recordFailure(ctx, src, ents, err)
		return Result{Source: source, Entity: entity}, fmt.Errorf("pull %s/%s: %w", source, entity, err)
	}
	return p.pullEntity(ctx, client, src, ents[0], schema, full)
}

// PullSource pulls entities of a source (all when entities is empty), up to
// hub.pull_concurrency at once, and returns every entity's error joined.
func (p *Puller) PullSource(ctx context.Context, source string, entities []string, full bool) error {
	_, err := p.pullSource(ctx, source, entities, full)
	return err
}

func (p *Puller) pullSource(ctx context.Context, source string, entities []string, full bool) ([]Result, error) {
	src, ents, err := p.lookup(source, entities)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", source, err)
	}
	release, err := p.acquireSource(ctx, source)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", source, err)
	}
	defer release()
	client, schema, err := p.connect(ctx, src, ents)
	if err != nil {
		p.recordFailure(ctx, src, ents, err)
		return nil, fmt.Errorf("pull %s: %w", source, err)
	}
	results := make([]Result, len(ents))
	errs := make([]error, len(ents))
	sem := make(chan struct{}, p.concurrency())
	var wg sync.WaitGroup
	for i, e := range ents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("pull %s/%s: %w", source, e.Name, ctx.Err())
				return
			}
			defer func() { <-sem }()
			results[i], errs[i] = p.pullEntity(ctx, client, src, e, schema, full)
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// connect gets the source's client and the schema of the entities.
func (p *Puller) connect(ctx context.Context, src *config.Source, ents []*config.Entity) (sdk.Client, sdk.Schema, error) {
	client, err := p.opts.Client(src.Name)
	if err != nil {
		return nil, sdk.Schema{}, fmt.Errorf("connector: %w", err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name
	}
	cctx, cancel := context.WithTimeout(ctx, p.callTimeout())
	defer cancel()
	schema, err := client.Schema(cctx, sdk.SchemaRequest{Entities: names})
	if err != nil {
		return nil, sdk.Schema{}, fmt.Errorf("schema: %w", err)
	}
	return client, schema, nil
}

// recordFailure stores an error that stopped a pull before any entity
// started, so the admin sees it on every entity it concerns.
func (p *Puller) recordFailure(ctx context.Context, src *config.Source, ents []*config.Entity, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, e := range ents {
		p.m.errors.WithLabelValues(src.Name, e.Name).Inc()
		if _, serr := p.st.EnsureEntityState(ctx, src.Name, e.Name); serr != nil {
			continue
		}
		_ = p.st.PullFinished(ctx, src.Name, e.Name, now(), err)
	}
	p.broadcast()
}

// acquireSource takes the source's lease for this process: the first
// holder takes the cross-instance lease, later ones share it.
func (p *Puller) acquireSource(ctx context.Context, source string) (func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leases[source]
	if l == nil {
		release, err := p.st.TryLease(ctx, "pull:"+source)
		if err != nil {
			return nil, err
		}
		l = &lease{release: release}
		p.leases[source] = l
	}
	l.refs++
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			l.refs--
			if l.refs == 0 {
				delete(p.leases, source)
				l.release()
			}
		})
	}, nil
}

// lockEntity serializes pulls of one entity inside this process.
func (p *Puller) lockEntity(ctx context.Context, source, entity string) (func(), error) {
	key := source + "\x00" + entity
	p.mu.Lock()
	ch := p.entities[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		p.entities[key] = ch
	}
	p.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pulledSignal returns a channel closed when the next entity pull ends.
func (p *Puller) pulledSignal() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pulled
}

func (p *Puller) broadcast() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.pulled)
	p.pulled = make(chan struct{})
}

func (p *Puller) stopRequested() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}
