package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// The database kinds.
const (
	KindSQLite   = "sqlite"
	KindPostgres = "postgres"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Options configure Open.
type Options struct {
	// Kind is "sqlite" (the default) or "postgres".
	Kind string
	// Path is the SQLite file; its parent directories are created. ":memory:"
	// gives a private in-memory database (one connection for everything).
	Path string
	// DSN is the PostgreSQL DSN (URL or keyword/value form).
	DSN string
	// Logger receives the store's logs; nil discards them.
	Logger hclog.Logger
	// SlowQuery is the duration above which a query is logged as a warning
	// (default 500ms).
	SlowQuery time.Duration
	// ReadConns is the size of SQLite's read pool (default: GOMAXPROCS, at
	// least 2).
	ReadConns int
	// MaxConns caps PostgreSQL's pool (default 25).
	MaxConns int
	// BusyTimeout is SQLite's busy timeout (default 10s).
	BusyTimeout time.Duration
}

// Store is the hub's database. It is safe for concurrent use.
type Store struct {
	kind   string
	db     *gorm.DB // every write; on SQLite its pool is one connection
	rdb    *gorm.DB // the download path's reads; == db on PostgreSQL and :memory:
	sqlDB  *sql.DB
	rsqlDB *sql.DB
	log    hclog.Logger
	// schema is PostgreSQL's current_schema(), mixed into advisory lock keys
	// so instances on different schemas of one database never contend.
	schema string
	// history names the "source\x00entity"s whose records keep their old
	// versions (KeepHistory).
	histMu  sync.RWMutex
	history map[string]bool
	// When the statistics of the mirror's tables and of push_mutations
	// are next refreshed (analyzeGrowth).
	mirrorGrowth, pushGrowth analyzeGrowth
	// The SQLite checkpointer (checkpoint.go).
	ckDB           *sql.DB
	ckStop, ckDone chan struct{}
	ckOnce         sync.Once
	// BearerByHash's statement, built once from the models.
	bearerOnce sync.Once
	bearerSQL  string
	bearerErr  error
}

// Open opens (creating when needed) the database and migrates it.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.SlowQuery <= 0 {
		opts.SlowQuery = 500 * time.Millisecond
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	log := opts.Logger.Named("store")
	var (
		s   *Store
		err error
	)
	switch opts.Kind {
	case "", KindSQLite:
		s, err = openSQLite(opts, log)
	case KindPostgres:
		s, err = openPostgres(ctx, opts, log)
	default:
		return nil, fmt.Errorf("open store: unknown database kind %q (want sqlite or postgres)", opts.Kind)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func gormConfig(log hclog.Logger, slow time.Duration) *gorm.Config {
	return &gorm.Config{
		SkipDefaultTransaction: true,
		Logger:                 newGormLogger(log, slow),
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
}

// writerCacheKiB is the SQLite writer's page cache (see openSQLite).
const writerCacheKiB = 16 << 10

func openSQLite(opts Options, log hclog.Logger) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("open store: sqlite needs a file path")
	}
	busy := opts.BusyTimeout.Milliseconds()
	// Each connection keeps its 64 last prepared statements: the store's
	// statements repeat with the same text (a chunk of a batch has the
	// same shape as the last), and SQLite compiling a statement of a few
	// hundred parameters costs more than running it. It took a quarter off
	// the push stage's own time (P5's hub-alone run).
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=on&_synchronous=NORMAL&_stmt_cache_size=64", busy)
	memory := opts.Path == ":memory:"
	if !memory {
		if strings.ContainsRune(opts.Path, '?') {
			return nil, fmt.Errorf("open store: sqlite path %q must not contain '?'", opts.Path)
		}
		if dir := filepath.Dir(opts.Path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("open store: create data directory: %w", err)
			}
		}
	}
	// The writer's page cache is 16 MiB (SQLite's default is 2 MiB). The
	// push stage rewrites each mutation's row twice, and those rows'
	// pages pushed the mirror's index pages out of a small cache, so each
	// record a batch wrote read its index pages from the file again: in
	// P5's hub-alone run the records and partition items upserts took
	// twice as long as on an idle store, and a 16 MiB cache took 15-20 %
	// off the stage's time. The cache grows only as pages are read.
	wdsn := opts.Path + "?" + common + "&_journal_mode=WAL&_txlock=immediate&_cache_size=" + strconv.Itoa(-writerCacheKiB)
	db, err := gorm.Open(sqlite.Open(wdsn), gormConfig(log, opts.SlowQuery))
	if err != nil {
		return nil, fmt.Errorf("open store: sqlite %s: %w", opts.Path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// One writer: writes queue for the connection instead of failing busy.
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetMaxIdleConns(1)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)
	s := &Store{kind: KindSQLite, db: db, rdb: db, sqlDB: sqlDB, rsqlDB: sqlDB, log: log}
	if err := sqlDB.Ping(); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: sqlite %s: %w", opts.Path, err)
	}
	// The writer never checkpoints the WAL itself: the checkpointer
	// (checkpoint.go) copies it back into the database on its own
	// connection every 250 ms, so no commit waits for that copy, and a
	// page a burst writes several times (a mutation's row as it is
	// accepted, sent and applied) is copied back about once. The WAL file
	// is truncated back to 64 MB when it starts over.
	for _, pragma := range []string{"PRAGMA wal_autocheckpoint = 0", "PRAGMA journal_size_limit = 67108864"} {
		if err := db.Exec(pragma).Error; err != nil {
			s.Close()
			return nil, fmt.Errorf("open store: sqlite %s: %s: %w", opts.Path, pragma, err)
		}
	}
	if memory {
		return s, nil
	}
	n := opts.ReadConns
	if n <= 0 {
		n = max(runtime.GOMAXPROCS(0), 2)
	}
	rdsn := opts.Path + "?" + common + "&_query_only=true"
	rdb, err := gorm.Open(sqlite.Open(rdsn), gormConfig(log, opts.SlowQuery))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: sqlite read pool %s: %w", opts.Path, err)
	}
	rsqlDB, err := rdb.DB()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	rsqlDB.SetMaxOpenConns(n)
	rsqlDB.SetMaxIdleConns(n)
	s.rdb, s.rsqlDB = rdb, rsqlDB
	if err := s.startCheckpointer(opts.Path + "?" + common); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: sqlite checkpointer %s: %w", opts.Path, err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, opts Options, log hclog.Logger) (*Store, error) {
	if opts.DSN == "" {
		return nil, errors.New("open store: postgres needs a DSN")
	}
	cfg, err := pgx.ParseConfig(opts.DSN)
	if err != nil {
		// The DSN may hold a password: never quote it (pgx's errors
		// redact it).
		return nil, fmt.Errorf("open store: postgres DSN: %w", err)
	}
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
		cfg.RuntimeParams["plan_cache_mode"] = genericPlans
	}
	sqlDB := stdlib.OpenDB(*cfg)
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), gormConfig(log, opts.SlowQuery))
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open store: postgres: %w", err)
	}
	n := opts.MaxConns
	if n <= 0 {
		n = 25
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n) // as many as may be open: a busy hub reuses them instead of reconnecting
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{kind: KindPostgres, db: db, rdb: db, sqlDB: sqlDB, rsqlDB: sqlDB, log: log}
	if err := db.WithContext(ctx).Raw("SELECT current_schema()").Scan(&s.schema).Error; err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: postgres: %w", err)
	}
	return s, nil
}

// genericPlans is the plan_cache_mode of the hub's PostgreSQL sessions
// unless the DSN sets one. Every statement the hub runs is prepared once per
// connection and is shaped so that its plan does not depend on the values
// (index lookups, ranges read in index order under a LIMIT). Left to
// itself (auto), PostgreSQL plans some of them again at every execution,
// the download path's above all: with 1,000 devices polling, planning took
// more of the server's CPU than running the queries (bench P4).
const genericPlans = "force_generic_plan"

// Kind is "sqlite" or "postgres".
func (s *Store) Kind() string { return s.kind }

// DB is the gorm handle for writes and anything not on the download path.
// On SQLite its pool has one connection: never run a query on DB() while
// holding a transaction of it on the same goroutine, or it waits forever.
func (s *Store) DB() *gorm.DB { return s.db }

// ReadDB is the handle for reads that may run beside writes (SQLite's
// read-only pool; the same as DB on PostgreSQL).
func (s *Store) ReadDB() *gorm.DB { return s.rdb }

// SQLDB is the write pool as database/sql, for the job queue's driver.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Close closes the pools.
func (s *Store) Close() error {
	var errs []error
	if s.ckStop != nil {
		s.ckOnce.Do(func() {
			close(s.ckStop)
			<-s.ckDone
			errs = append(errs, s.ckDB.Close())
		})
	}
	if s.rsqlDB != nil && s.rsqlDB != s.sqlDB {
		errs = append(errs, s.rsqlDB.Close())
	}
	if s.sqlDB != nil {
		errs = append(errs, s.sqlDB.Close())
	}
	return errors.Join(errs...)
}

// lockKey turns a lock name into a PostgreSQL advisory lock key, scoped to
// the current schema.
func (s *Store) lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("synchub\x00" + s.schema + "\x00" + name))
	return int64(h.Sum64())
}

// ErrLeaseHeld is returned by TryLease when another hub instance holds the
// lease.
var ErrLeaseHeld = errors.New("lease held by another hub instance")

// TryLease takes the named lease for this process, or fails at once with
// ErrLeaseHeld. On PostgreSQL it is a session advisory lock held on a
// dedicated connection: the database frees it when the holder's connection
// dies, so a crashed instance never strands a lease and no expiry is
// needed. On SQLite there is one hub instance, so the lease is always free
// (callers serialize inside the process). release returns the lease.
func (s *Store) TryLease(ctx context.Context, name string) (release func(), err error) {
	if s.kind != KindPostgres {
		return func() {}, nil
	}
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease %s: %w", name, err)
	}
	key := s.lockKey("lease:" + name)
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lease %s: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("lease %s: %w", name, ErrLeaseHeld)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			// Closing the session frees the lock anyway; make sure the
			// connection is not reused with the lock still held.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}
