package files

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Defaults of Options.
const (
	// DefaultCacheBytes is the content cache size the hub uses.
	DefaultCacheBytes = 1 << 30
	// DefaultMaxUploadBytes caps one device upload.
	DefaultMaxUploadBytes = 1 << 30
)

// Options configure a Syncer.
type Options struct {
	Store  *store.Store
	Config *config.Config
	// Client returns a source's connector client.
	Client func(source string) (sdk.Client, error)
	// Describe returns a source's connector description (the hub keeps
	// it); nil asks the client once per source.
	Describe func(source string) (sdk.Description, error)
	Logger   hclog.Logger
	// Notify, when set, is called after a commit that gave partitions new
	// items, with the feed source, those partitions and the last seq. It
	// must not block.
	Notify func(source string, partitions []string, seq int64)
	// SpoolDir holds uploaded bodies until they reach the back end, and
	// this instance's id (default <os.TempDir>/synchub-uploads). It must
	// survive restarts for uploads to be durable.
	SpoolDir string
	// CacheDir and CacheBytes enable the content cache; CacheBytes 0
	// disables it.
	CacheDir   string
	CacheBytes int64
	// MaxUploadBytes caps one upload (default DefaultMaxUploadBytes).
	MaxUploadBytes int64
	// MaxAttempts is how many times an upload is tried (default 10).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 (default 1s doubling to 10m,
	// with jitter); a back end's Retry-After, when longer, wins.
	Backoff func(attempt int) time.Duration
	// CallTimeout bounds a connector call that is not a stream (default
	// hub.call_timeout, else 2m).
	CallTimeout time.Duration
	// JobTimeout bounds one listing or upload job (default 30m).
	JobTimeout time.Duration
	// PollInterval and Workers apply to the client Start makes (defaults
	// 1s and 4).
	PollInterval time.Duration
	Workers      int
}

// Errors callers branch on.
var (
	// ErrUnknownSource: the source is not in the config.
	ErrUnknownSource = errors.New("source not configured")
	// ErrNoFiles: the source's connector does not list files.
	ErrNoFiles = errors.New("source does not list files")
	// ErrNoWriter: no source can store files of this source's records.
	ErrNoWriter = errors.New("no source stores files for this source's records")
	// ErrTooLarge: an upload is larger than Options.MaxUploadBytes.
	ErrTooLarge = errors.New("file is larger than the upload limit")
	// ErrInvalidName: a file name that is not a plain name.
	ErrInvalidName = errors.New("invalid file name")
	// ErrBody: the upload's body could not be read (the device went away).
	ErrBody = errors.New("cannot read the upload body")
	// ErrIncomplete: the upload's body ended before its announced length.
	ErrIncomplete = errors.New("upload body is shorter than its Content-Length")
	// ErrBusy: another hub instance is listing the source.
	ErrBusy = store.ErrLeaseHeld
	// ErrStopping: the stage is stopping.
	ErrStopping = errors.New("file stage stopping")
)

// Syncer is the file stage. It is safe for concurrent use.
type Syncer struct {
	opts Options
	st   *store.Store
	cfg  *config.Config
	log  hclog.Logger

	// inserter is an insert-only River client: jobs are enqueued through
	// it whichever client works them.
	inserter *river.Client[*sql.Tx]
	// uploadQueue is this instance's upload queue: the spool is local.
	uploadQueue string
	cache       *cache

	mu         sync.Mutex
	listing    map[string]chan struct{} // source -> in-process lock
	descs      map[string]sdk.Description
	registered bool                   // RegisterJobs ran: a scheduler works the jobs
	river      *river.Client[*sql.Tx] // the client Start made, if any
	bg         sync.WaitGroup

	stopOnce sync.Once
	stopping chan struct{}
}

// New returns a Syncer. Listings and reads work at once; queued listings
// and uploads run once a River client works the stage's jobs (Start, or
// the pull scheduler through RegisterJobs).
func New(opts Options) (*Syncer, error) {
	if opts.Store == nil || opts.Config == nil || opts.Client == nil {
		return nil, errors.New("files: Store, Config and Client are required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = filepath.Join(os.TempDir(), "synchub-uploads")
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
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
		opts.JobTimeout = 30 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	s := &Syncer{
		opts: opts, st: opts.Store, cfg: opts.Config,
		log:      opts.Logger.Named("files"),
		listing:  map[string]chan struct{}{},
		descs:    map[string]sdk.Description{},
		stopping: make(chan struct{}),
	}
	if err := os.MkdirAll(opts.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("files: create the upload spool: %w", err)
	}
	id, err := instanceID(opts.SpoolDir)
	if err != nil {
		return nil, err
	}
	s.uploadQueue = "synchub_files_upload_" + id
	if opts.CacheBytes > 0 {
		if opts.CacheDir == "" {
			return nil, errors.New("files: CacheBytes needs a CacheDir")
		}
		if s.cache, err = openCache(opts.CacheDir, opts.CacheBytes, s.log.Named("cache")); err != nil {
			return nil, err
		}
	}
	ins, err := pull.NewInserter(s.st, s.log)
	if err != nil {
		return nil, fmt.Errorf("files: job queue: %w", err)
	}
	s.inserter = ins
	return s, nil
}

// instanceID is this hub instance's id, kept in the spool so it survives
// restarts: the uploads spooled here are worked from a queue of that name.
func instanceID(dir string) (string, error) {
	path := filepath.Join(dir, "instance.id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 16 {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("files: read the instance id: %w", err)
	}
	var raw [8]byte
	_, _ = crand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	if err := writeFileSync(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("files: write the instance id: %w", err)
	}
	return id, nil
}

func (s *Syncer) stopRequested() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// source returns the configured source called name.
func (s *Syncer) source(name string) (*config.Source, error) {
	src, ok := s.cfg.Source(name)
	if !ok {
		return nil, fmt.Errorf("source %q: %w", name, ErrUnknownSource)
	}
	return src, nil
}

// feed returns the source whose feed src's files join: its attach_to
// target, or src itself.
func (s *Syncer) feed(src *config.Source) (*config.Source, error) {
	if src.AttachTo == "" {
		return src, nil
	}
	return s.source(src.AttachTo)
}

// describe returns a source's connector description.
func (s *Syncer) describe(ctx context.Context, name string) (sdk.Description, error) {
	if s.opts.Describe != nil {
		return s.opts.Describe(name)
	}
	s.mu.Lock()
	d, ok := s.descs[name]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	client, err := s.opts.Client(name)
	if err != nil {
		return sdk.Description{}, fmt.Errorf("connector of %s: %w", name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	if d, err = client.Describe(cctx); err != nil {
		return sdk.Description{}, fmt.Errorf("describe %s: %w", name, err)
	}
	s.mu.Lock()
	s.descs[name] = d
	s.mu.Unlock()
	return d, nil
}

// ListingSources names the configured sources whose connectors list
// files, in config order.
func (s *Syncer) ListingSources(ctx context.Context) []string {
	var out []string
	for _, src := range s.cfg.Sources {
		d, err := s.describe(ctx, src.Name)
		if err != nil {
			s.log.Warn("cannot tell whether a source lists files", "source", src.Name, "error", err)
			continue
		}
		if d.Has(sdk.CapListFiles) {
			out = append(out, src.Name)
		}
	}
	return out
}

// notify passes a commit's partitions on.
func (s *Syncer) notify(target string, res store.FileResult) {
	if s.opts.Notify != nil && len(res.Partitions) > 0 {
		s.opts.Notify(target, res.Partitions, res.LastSeq)
	}
}

// writeFileSync writes a small file durably: temp file, fsync, rename,
// fsync of the directory.
func writeFileSync(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
