package push

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Options configure a Pusher.
type Options struct {
	Store  *store.Store
	Config *config.Config
	// Client returns a source's connector client.
	Client func(source string) (sdk.Client, error)
	// Schema returns a source's checked schema (the hub's sources keep
	// it); nil asks the client once per source.
	Schema func(source string) (sdk.Schema, error)
	// Describe returns a source's connector description; nil asks the
	// client once per source.
	Describe func(source string) (sdk.Description, error)
	Logger   hclog.Logger
	// Metrics registers the push metrics; nil leaves them unregistered.
	Metrics prometheus.Registerer
	// Notify, when set, is called after a commit that gave partitions new
	// items, with those partitions and the last seq. It must not block.
	Notify func(source string, partitions []string, seq int64)
	// Refresh, when set, is asked to pull entities whose mirror the push
	// stage could not update from an answer (a replayed answer that may
	// be older than the mirror); the hub wires it to the pull stage's
	// Trigger. It must not block.
	Refresh func(source string, entities []string)

	// MaxAttempts is how many transient failures an op gets before it is
	// dead-lettered (default 10).
	MaxAttempts int
	// MaxAcceptBatch caps the mutations of one upload (default 1000).
	MaxAcceptBatch int
	// Backoff is the wait before attempt n+1 after n transient failures
	// (default: 1s doubling up to 10m, with jitter). A back end's
	// Retry-After, when longer, wins.
	Backoff func(attempt int) time.Duration
	// CallTimeout bounds one Upload (default hub.call_timeout, else 2m).
	CallTimeout time.Duration
	// JobTimeout bounds one push job (default 10m).
	JobTimeout time.Duration
	// PollInterval is how often a client started by Start looks for jobs
	// (default 1s).
	PollInterval time.Duration
	// Workers is how many push jobs run at once (default 4).
	Workers int
	// SweepInterval is how often every source is checked for due work
	// (retries, ops left by a crashed instance) and old record history is
	// pruned (default 1m).
	SweepInterval time.Duration
	// HistoryRetention is how long replaced record versions are kept for
	// three-way merges (default hub.tombstone_retention, else 30 days).
	HistoryRetention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Errors callers branch on.
var (
	// ErrUnknownSource: the source is not in the config.
	ErrUnknownSource = errors.New("source not configured")
	// ErrBatchTooLarge: an upload holds more mutations than MaxAcceptBatch.
	ErrBatchTooLarge = errors.New("too many mutations in one upload")
	// ErrNotFound: no such sync error or dead letter (for this caller).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: a resolution the hub cannot carry out as asked.
	ErrInvalid = errors.New("invalid request")
	// ErrNotOpen: the sync error was resolved already.
	ErrNotOpen = errors.New("sync error is not open")
	// ErrStopping: the pusher is stopping.
	ErrStopping = errors.New("pusher stopping")
)

// Pusher is the push stage. It is safe for concurrent use.
type Pusher struct {
	opts Options
	st   *store.Store
	cfg  *config.Config
	log  hclog.Logger
	m    *metrics

	// inserter is an insert-only River client: Accept enqueues through it
	// inside its own transaction, whichever client works the jobs.
	inserter *river.Client[*sql.Tx]

	mu      sync.Mutex
	runs    map[string]*run // per source
	schemas map[string]sdk.Schema
	descs   map[string]sdk.Description
	river   *river.Client[*sql.Tx] // the client Start made, if any
	// worker is the started client that runs the push jobs in this
	// process (Start's, or the pull scheduler's), if any: see wake.
	worker atomic.Pointer[river.Client[*sql.Tx]]

	stopOnce sync.Once
	stopping chan struct{}

	// afterUpload, set by tests, runs after an Upload returned and before
	// its results are recorded; an error abandons the results as a crash
	// of the hub at that instant would.
	afterUpload func(source string) error
	hookMu      sync.Mutex // calls afterUpload one at a time
}

// run is a source's push run in this process: one at a time; a request
// that finds one running marks it dirty so it goes round once more.
type run struct {
	running, dirty bool
	done           chan struct{} // closed when the run ends
}

// New returns a Pusher. Accept and PushSource work at once; Start (or the
// pull scheduler, through RegisterJobs) runs the queued pushes.
func New(opts Options) (*Pusher, error) {
	if opts.Store == nil || opts.Config == nil || opts.Client == nil {
		return nil, errors.New("push: Store, Config and Client are required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.MaxAcceptBatch <= 0 {
		opts.MaxAcceptBatch = 1000
	}
	if opts.Backoff == nil {
		opts.Backoff = pull.RetryBackoff
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = opts.Config.Hub.CallTimeout
		if opts.CallTimeout <= 0 {
			opts.CallTimeout = 2 * time.Minute
		}
	}
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = 10 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.HistoryRetention <= 0 {
		opts.HistoryRetention = opts.Config.Hub.TombstoneRetention
		if opts.HistoryRetention <= 0 {
			opts.HistoryRetention = 30 * 24 * time.Hour
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Pusher{
		opts: opts, st: opts.Store, cfg: opts.Config,
		log:      opts.Logger.Named("push"),
		m:        newMetrics(opts.Metrics),
		runs:     map[string]*run{},
		schemas:  map[string]sdk.Schema{},
		descs:    map[string]sdk.Description{},
		stopping: make(chan struct{}),
	}
	ins, err := pull.NewInserter(p.st, p.log)
	if err != nil {
		return nil, fmt.Errorf("push: job queue: %w", err)
	}
	p.inserter = ins
	// Merges and device_wins_full read the version a device's edit is
	// based on, which the mirror has usually replaced by then.
	for _, src := range p.cfg.Sources {
		var ents []string
		for _, e := range src.Entities {
			if needsBase(e.Conflict) {
				ents = append(ents, e.Name)
			}
		}
		if len(ents) > 0 {
			p.st.KeepHistory(src.Name, ents...)
		}
	}
	return p, nil
}

// needsBase says the entity keeps record history: merges need the base
// version's fields, and so does re-creating a record deleted on the
// server (device_wins_full, and the keep_mine a user_decides error asks
// for) when the mirror dropped it before the device's edit arrived.
func needsBase(policy string) bool {
	return policy == policyMerge || policy == policyDeviceWinsFull || policy == policyUserDecides
}

func (p *Pusher) now() time.Time { return p.opts.Now().UTC() }

func (p *Pusher) stopRequested() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}

// source returns the configured source.
func (p *Pusher) source(name string) (*config.Source, error) {
	src, ok := p.cfg.Source(name)
	if !ok {
		return nil, fmt.Errorf("source %q: %w", name, ErrUnknownSource)
	}
	return src, nil
}

// schema returns the source's schema, from Options.Schema or the client.
func (p *Pusher) schema(ctx context.Context, src *config.Source) (sdk.Schema, error) {
	if p.opts.Schema != nil {
		return p.opts.Schema(src.Name)
	}
	p.mu.Lock()
	s, ok := p.schemas[src.Name]
	p.mu.Unlock()
	if ok {
		return s, nil
	}
	client, err := p.opts.Client(src.Name)
	if err != nil {
		return sdk.Schema{}, fmt.Errorf("connector of %s: %w", src.Name, err)
	}
	names := make([]string, len(src.Entities))
	for i, e := range src.Entities {
		names[i] = e.Name
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	s, err = client.Schema(cctx, sdk.SchemaRequest{Entities: names})
	if err != nil {
		return sdk.Schema{}, fmt.Errorf("schema of %s: %w", src.Name, err)
	}
	p.mu.Lock()
	p.schemas[src.Name] = s
	p.mu.Unlock()
	return s, nil
}

// describe returns the source's connector description.
func (p *Pusher) describe(ctx context.Context, src *config.Source) (sdk.Description, error) {
	if p.opts.Describe != nil {
		return p.opts.Describe(src.Name)
	}
	p.mu.Lock()
	d, ok := p.descs[src.Name]
	p.mu.Unlock()
	if ok {
		return d, nil
	}
	client, err := p.opts.Client(src.Name)
	if err != nil {
		return sdk.Description{}, fmt.Errorf("connector of %s: %w", src.Name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	d, err = client.Describe(cctx)
	if err != nil {
		return sdk.Description{}, fmt.Errorf("describe %s: %w", src.Name, err)
	}
	p.mu.Lock()
	p.descs[src.Name] = d
	p.mu.Unlock()
	return d, nil
}

// batchSize is the most ops one Upload of src carries: the source's
// batch_size (default 100, at most 1000) capped by the connector's.
func batchSize(src *config.Source, d sdk.Description) int {
	n := src.BatchSize
	if n <= 0 {
		n = 100
	}
	n = min(n, 1000)
	connector := d.MaxBatchSize
	if connector <= 0 {
		connector = 100
	}
	return max(1, min(n, connector))
}

// entityRank orders a source's entities parents first (the config's
// parents form no cycle), then in config order.
func entityRank(src *config.Source) map[string]int {
	rank := map[string]int{}
	var visit func(e *config.Entity, depth int)
	visit = func(e *config.Entity, depth int) {
		if depth > len(src.Entities) {
			return // a cycle the loader should have refused
		}
		for _, name := range e.Parents {
			if pe, ok := src.Entity(name); ok {
				visit(pe, depth+1)
			}
		}
		if _, done := rank[e.Name]; !done {
			rank[e.Name] = len(rank)
		}
	}
	for i := range src.Entities {
		visit(&src.Entities[i], 0)
	}
	return rank
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
