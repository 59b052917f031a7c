package pgnotify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/synchub/synchub/host/events"
)

// Options configure Start.
type Options struct {
	// DB is the store's pool, on the pgx driver. Notices are sent on it, and
	// the listener's dedicated connection copies the configuration of one of
	// its connections (host, credentials, search_path), so it needs no DSN.
	DB *sql.DB
	// Local is the instance's in-process hub that notices are fed to.
	Local *events.Hub
	// SourceSeq reads a source's current seq, for the wake-up after a
	// reconnect.
	SourceSeq func(ctx context.Context, source string) (int64, error)
	// Logger receives the bridge's logs; nil discards them.
	Logger hclog.Logger
	// Instance names this instance in its notices (default: random).
	Instance string
	// HealthCheck is how long the listener waits for a notice before it
	// pings its connection (default 30s).
	HealthCheck time.Duration
}

// The listener's reconnect backoff, and the send retry's.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
	// opTimeout bounds each round trip: connect, LISTEN, ping, send.
	opTimeout = 15 * time.Second
)

// Bridge publishes locally and to the other instances, and feeds theirs to
// the local hub. Make one with Start; it is safe for concurrent use.
type Bridge struct {
	local     *events.Hub
	db        *sql.DB
	sourceSeq func(context.Context, string) (int64, error)
	log       hclog.Logger
	instance  string
	channel   string
	connCfg   *pgx.ConnConfig
	health    time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	pending map[string]*change // by source, not yet sent
	kick    chan struct{}      // cap 1: the sender has work
}

// change is what a source's queued publishes add up to.
type change struct {
	seq   int64
	parts map[string]struct{}
}

// Start reads the schema, opens the listener's connection and LISTENs
// before it returns, so every notice sent after Start is heard; then it
// starts the listener and the sender. Close stops them.
func Start(ctx context.Context, opts Options) (*Bridge, error) {
	if opts.DB == nil || opts.Local == nil || opts.SourceSeq == nil {
		return nil, errors.New("pgnotify: DB, Local and SourceSeq are required")
	}
	b := &Bridge{local: opts.Local, db: opts.DB, sourceSeq: opts.SourceSeq, log: opts.Logger,
		instance: opts.Instance, health: opts.HealthCheck,
		pending: map[string]*change{}, kick: make(chan struct{}, 1)}
	if b.log == nil {
		b.log = hclog.NewNullLogger()
	}
	if b.instance == "" {
		var raw [8]byte
		_, _ = rand.Read(raw[:])
		b.instance = hex.EncodeToString(raw[:])
	}
	if b.health <= 0 {
		b.health = 30 * time.Second
	}
	var schema string
	if err := b.db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("pgnotify: read the schema: %w", err)
	}
	b.channel = channelFor(schema)
	cfg, err := connConfig(ctx, b.db)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = "synchub notices " + b.instance
	b.connCfg = cfg
	b.log = b.log.With("channel", b.channel, "instance", b.instance)
	conn, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(2)
	go b.listen(conn)
	go b.send()
	return b, nil
}

// connConfig copies the configuration of one of db's pgx connections.
func connConfig(ctx context.Context, db *sql.DB) (*pgx.ConnConfig, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: %w", err)
	}
	defer c.Close()
	var cfg *pgx.ConnConfig
	err = c.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("pgnotify: the database driver's connection is a %T, not pgx's", dc)
		}
		cfg = pc.Conn().Config()
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The copy carries the pool connection's notification handler, which
	// would buffer our notices on that connection: let pgx install ours.
	cfg.OnNotification = nil
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	return cfg, nil
}

// Instance is the name this instance's notices carry.
func (b *Bridge) Instance() string { return b.instance }

// Channel is the NOTIFY channel of the store's schema.
func (b *Bridge) Channel() string { return b.channel }

// Publish announces, to this instance's subscribers at once and to the
// other instances' soon after, that source committed changes up to seq
// touching partitions. It has events.Hub.Publish's signature and, like it,
// never blocks.
func (b *Bridge) Publish(source string, partitions []string, seq int64) {
	b.local.Publish(source, partitions, seq)
	if len(partitions) == 0 {
		return
	}
	b.mu.Lock()
	c := b.pending[source]
	if c == nil {
		c = &change{parts: map[string]struct{}{}}
		b.pending[source] = c
	}
	c.seq = max(c.seq, seq)
	for _, p := range partitions {
		c.parts[p] = struct{}{}
	}
	b.mu.Unlock()
	b.signal()
}

func (b *Bridge) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Close stops the listener and the sender and closes the listener's
// connection; notices still queued are dropped (other instances' devices
// get those changes on their next sync). It may be called more than once.
func (b *Bridge) Close() {
	b.once.Do(func() {
		b.cancel()
		b.wg.Wait()
	})
}

// send sends queued notices until Close. A failed send is put back and
// retried with backoff, merged with whatever was queued meanwhile.
func (b *Bridge) send() {
	defer b.wg.Done()
	backoff := minBackoff
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		}
		b.mu.Lock()
		batch := b.pending
		b.pending = map[string]*change{}
		b.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		if err := b.notify(batch); err != nil {
			if b.ctx.Err() != nil {
				return
			}
			b.log.Warn("send change notices; retrying", "error", err, "retry_in", backoff)
			b.requeue(batch)
			if !sleep(b.ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			b.signal()
			continue
		}
		backoff = minBackoff
	}
}

// notify sends batch in one statement.
func (b *Bridge) notify(batch map[string]*change) error {
	var payloads []string
	for _, source := range slices.Sorted(maps.Keys(batch)) {
		c := batch[source]
		ps, err := encode(b.instance, source, c.seq, slices.Sorted(maps.Keys(c.parts)))
		if err != nil {
			// Only a source name of thousands of bytes gets here; no
			// retry would help it.
			b.log.Error("change notice dropped", "source", source, "error", err)
			continue
		}
		payloads = append(payloads, ps...)
	}
	if len(payloads) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(b.ctx, opTimeout)
	defer cancel()
	_, err := b.db.ExecContext(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", b.channel, payloads)
	return err
}

// requeue merges an unsent batch back into the queue.
func (b *Bridge) requeue(batch map[string]*change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for source, c := range batch {
		q := b.pending[source]
		if q == nil {
			b.pending[source] = c
			continue
		}
		q.seq = max(q.seq, c.seq)
		maps.Copy(q.parts, c.parts)
	}
}

// connect opens a connection and LISTENs on the channel.
func (b *Bridge) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, b.connCfg.Copy())
	if err != nil {
		// The error may quote the host but never the password.
		return nil, fmt.Errorf("pgnotify: connect the listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("pgnotify: LISTEN %s: %w", b.channel, err)
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// listen feeds notices from conn to the local hub until Close, reconnecting
// whenever the connection is lost.
func (b *Bridge) listen(conn *pgx.Conn) {
	defer b.wg.Done()
	backoff := minBackoff
	for {
		up := time.Now()
		err := b.receive(conn)
		closeConn(conn)
		if b.ctx.Err() != nil {
			return
		}
		// A connection that held for a while earns a quick reconnect; one
		// that keeps dropping at once backs off like a failing connect.
		if time.Since(up) > maxBackoff {
			backoff = minBackoff
		}
		b.log.Warn("change notice listener lost its connection; reconnecting", "error", err)
		for conn = nil; conn == nil; {
			if !sleep(b.ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			if conn, err = b.connect(b.ctx); err != nil {
				if b.ctx.Err() != nil {
					return
				}
				b.log.Warn("change notice listener reconnect failed", "error", err, "retry_in", backoff)
			}
		}
		b.log.Info("change notice listener reconnected")
		b.wakeAll()
	}
}

// receive delivers notices from conn until ctx ends or conn fails. Between
// notices it pings the connection every b.health, so a peer that vanished
// without closing the socket is noticed.
func (b *Bridge) receive(conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(b.ctx, b.health)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			b.deliver(n.Payload)
			continue
		}
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
		// A wait that timed out leaves the connection usable (pgx only
		// sets a read deadline); anything else is fatal to it.
		if !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
			return err
		}
		pctx, cancel := context.WithTimeout(b.ctx, opTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
	}
}

// deliver publishes another instance's notice locally.
func (b *Bridge) deliver(payload string) {
	n, err := decode(payload)
	if err != nil {
		b.log.Warn("ignoring a change notice", "error", err)
		return
	}
	if n.Origin == b.instance {
		return
	}
	if n.All {
		b.local.Wake(n.Source, n.Seq)
		return
	}
	b.local.Publish(n.Source, n.Partitions, n.Seq)
}

// wakeAll wakes every local subscriber at its source's current seq, for
// the notices that may have been sent while the listener was away.
func (b *Bridge) wakeAll() {
	for _, source := range b.local.Sources() {
		ctx, cancel := context.WithTimeout(b.ctx, opTimeout)
		seq, err := b.sourceSeq(ctx, source)
		cancel()
		if err != nil {
			b.log.Warn("wake subscribers after reconnecting", "source", source, "error", err)
			continue
		}
		b.local.Wake(source, seq)
	}
}

// sleep waits d, or less when ctx ends first (then it is false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
