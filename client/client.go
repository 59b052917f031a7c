package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"gorm.io/gorm"
)

// Options configure Open. Only Path is required.
type Options struct {
	// Path is the SQLite file of the local store; its directory is created
	// and downloaded files live under <dir>/files/. One Client opens a
	// store at a time: it keeps the store's sources and schemas in memory
	// between syncs, and runs one sync at a time.
	Path string
	// Logger receives the client's logs; nil discards them.
	Logger hclog.Logger
	// HTTPClient talks to the hub; nil means a client without an overall
	// timeout (each call gets RequestTimeout; the event stream none).
	HTTPClient *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Repair rebuilds a damaged store instead of failing: the change log
	// and the account are exported first, the damaged file is moved aside
	// and a fresh store is filled by the next sync.
	Repair bool
	// FileWorkers is the number of parallel eager downloads (default 10).
	FileWorkers int
	// BatchSize is the number of mutations per upload call (default 100).
	BatchSize int
	// PageSize is the limit asked of each changes page (default 500).
	PageSize int
	// RequestTimeout bounds each JSON call to the hub (default 60s).
	RequestTimeout time.Duration
	// AutoSyncInterval is the period of AutoSync's interval mode (default 15m).
	AutoSyncInterval time.Duration
	// AutoSyncDebounce delays an on_change or event-triggered sync so that
	// bursts become one sync (default 2s).
	AutoSyncDebounce time.Duration
	// MinStartAge skips the on-start sync when the last sync finished more
	// recently than this (default 15m).
	MinStartAge time.Duration
	// EventRetry is the first reconnect delay of the event stream (default
	// 1s, doubling up to a minute).
	EventRetry time.Duration
	// OnAutoSync, when set, receives the outcome of every automatic sync.
	OnAutoSync func(SyncReport, error)
}

// Client is an open local store plus its connection to the hub. It is safe
// for concurrent use; one Sync runs at a time.
type Client struct {
	opts     Options
	path     string
	filesDir string
	db       *gorm.DB
	log      hclog.Logger
	http     *http.Client
	now      func() time.Time

	syncMu sync.Mutex // one sync at a time
	authMu sync.Mutex // one token refresh at a time

	fileLocksMu sync.Mutex
	fileLocks   map[string]*fileLock

	repaired *RepairInfo

	// schema keeps the sources and schemas every edit reads.
	schema schemaCache

	// edits is signalled (without blocking) by every local edit; AutoSync's
	// on_change mode listens.
	edits chan struct{}
}

// Open opens (creating when needed) the local store at opts.Path. A
// damaged store gives an error matching ErrCorrupt unless opts.Repair is
// set, in which case it is rebuilt keeping the pending changes.
func Open(ctx context.Context, opts Options) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FileWorkers <= 0 {
		opts.FileWorkers = 10
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 60 * time.Second
	}
	if opts.AutoSyncInterval <= 0 {
		opts.AutoSyncInterval = 15 * time.Minute
	}
	if opts.AutoSyncDebounce <= 0 {
		opts.AutoSyncDebounce = 2 * time.Second
	}
	if opts.MinStartAge <= 0 {
		opts.MinStartAge = 15 * time.Minute
	}
	log := opts.Logger.Named("client")
	path, err := filepath.Abs(opts.Path)
	if err != nil || opts.Path == "" {
		return nil, fmt.Errorf("open local store: bad path %q", opts.Path)
	}
	db, err := openStore(ctx, path, log)
	var (
		corrupt  *CorruptError
		repaired *RepairInfo
	)
	if errors.As(err, &corrupt) && opts.Repair {
		log.Warn("local store is damaged: repairing", "path", path, "detail", corrupt.Detail)
		db, repaired, err = repairStore(ctx, path, log)
		if repaired != nil {
			repaired.Detail = corrupt.Detail
		}
	}
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:     opts,
		path:     path,
		filesDir: filepath.Join(filepath.Dir(path), "files"),
		db:       db,
		log:      log,
		http:     opts.HTTPClient,
		now:      opts.Now,
		edits:    make(chan struct{}, 1),
		repaired: repaired,
	}
	if err := os.MkdirAll(c.filesDir, 0o700); err != nil {
		c.Close()
		return nil, fmt.Errorf("open local store: files directory: %w", err)
	}
	if err := c.ensureDeviceID(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the local store.
func (c *Client) Close() error {
	sqlDB, err := c.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Repaired describes the repair Open made of a damaged store (nil when the
// store was sound).
func (c *Client) Repaired() *RepairInfo { return c.repaired }

// Path is the local store's file.
func (c *Client) Path() string { return c.path }

// DeviceID is this store's device id, generated once and kept across
// logins.
func (c *Client) DeviceID(ctx context.Context) (string, error) {
	return c.meta(ctx, "device_id")
}

func (c *Client) ensureDeviceID(ctx context.Context) error {
	id, err := c.meta(ctx, "device_id")
	if err != nil {
		return err
	}
	if id != "" {
		return nil
	}
	if err := setMeta(c.db.WithContext(ctx), "device_id", uuid.NewString()); err != nil {
		return fmt.Errorf("save device id: %w", err)
	}
	return nil
}

// signalEdit wakes AutoSync's on_change mode.
func (c *Client) signalEdit() {
	select {
	case c.edits <- struct{}{}:
	default:
	}
}
