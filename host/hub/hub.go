package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/synchub/synchub/host/api"
	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/events"
	"github.com/synchub/synchub/host/events/pgnotify"
	"github.com/synchub/synchub/host/files"
	"github.com/synchub/synchub/host/pluginhost"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/push"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Options configure a Hub.
type Options struct {
	Config *config.Config
	Logger hclog.Logger
	// Clients replaces the plugin of the named sources with these clients.
	Clients map[string]sdk.Client
	// Store, when set, is used instead of opening the config's database.
	Store *store.Store
	// FileCacheBytes bounds the file content cache in data_dir/file-cache:
	// 0 means files.DefaultCacheBytes, a negative value disables it.
	FileCacheBytes int64
	// LoginRetry is how often Start's background work asks again about
	// logins a back end could not be asked about (default 30s).
	LoginRetry time.Duration
	// PluginEnv lists extra "KEY=value" variables for every plugin
	// process, which inherits none of the hub's environment (for example
	// sdk.CPUProfileEnv, to profile the connectors).
	PluginEnv []string
}

// defaultLoginRetry is Options.LoginRetry's default.
const defaultLoginRetry = 30 * time.Second

// Hub is a running hub: store, sources, pipelines and API.
type Hub struct {
	cfg     *config.Config
	log     hclog.Logger
	store   *store.Store
	ownsDB  bool
	sources *Sources
	puller  *pull.Puller
	pusher  *push.Pusher
	files   *files.Syncer
	events  *events.Hub
	notices *pgnotify.Bridge // nil on SQLite
	api     *api.Server
	reg     *prometheus.Registry
	retry   time.Duration // Options.LoginRetry
	// stopRetry ends Start's login retries (Close).
	stopRetry context.CancelFunc
}

// Open builds a hub: it opens (and migrates) the store, starts and checks
// every source, and wires the pipelines and the API. Nothing runs in the
// background until Run (or Start).
func Open(ctx context.Context, opts Options) (_ *Hub, err error) {
	cfg := opts.Config
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	h := &Hub{cfg: cfg, log: log, store: opts.Store, events: events.New(), reg: prometheus.NewRegistry(), retry: opts.LoginRetry}
	if h.retry <= 0 {
		h.retry = defaultLoginRetry
	}
	h.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.store == nil {
		sopts := store.Options{Kind: cfg.DatabaseKind(), Logger: log.Named("store")}
		if sopts.Kind == "postgres" {
			sopts.DSN = cfg.DatabaseDSN()
		} else {
			sopts.Path = cfg.DatabaseDSN()
		}
		if h.store, err = store.Open(ctx, sopts); err != nil {
			return nil, fmt.Errorf("open the database: %w", err)
		}
		h.ownsDB = true
	}
	// Stages publish through notify: on PostgreSQL it also tells the other
	// hub instances, and hears theirs.
	notify := h.events.Publish
	if h.store.Kind() == store.KindPostgres {
		h.notices, err = pgnotify.Start(ctx, pgnotify.Options{DB: h.store.SQLDB(), Local: h.events,
			SourceSeq: h.store.SourceSeq, Logger: log.Named("notices")})
		if err != nil {
			return nil, fmt.Errorf("listen for other instances' change notices: %w", err)
		}
		notify = h.notices.Publish
	}
	metrics, err := pluginhost.NewMetrics(h.reg)
	if err != nil {
		return nil, fmt.Errorf("register plugin metrics: %w", err)
	}
	if h.sources, err = StartSources(ctx, cfg, SourceOptions{Clients: opts.Clients, Logger: log.Named("plugin"), Metrics: metrics,
		Env: opts.PluginEnv}); err != nil {
		return nil, err
	}
	h.pusher, err = push.New(push.Options{Store: h.store, Config: cfg, Client: h.sources.Client,
		Schema: h.sources.schema, Describe: h.sources.describe, Logger: log, Metrics: h.reg, Notify: notify,
		Refresh: func(source string, entities []string) {
			go func() {
				if err := h.puller.Trigger(context.Background(), source, entities, false); err != nil {
					log.Warn("refresh after push", "source", source, "error", err)
				}
			}()
		}})
	if err != nil {
		return nil, err
	}
	h.files, err = files.New(files.Options{Store: h.store, Config: cfg, Client: h.sources.Client,
		Describe: h.sources.describe, Logger: log, Notify: notify,
		SpoolDir: filepath.Join(cfg.Hub.DataDir, "uploads"), CacheDir: filepath.Join(cfg.Hub.DataDir, "file-cache"),
		CacheBytes: cacheBytes(opts.FileCacheBytes)})
	if err != nil {
		return nil, err
	}
	// One River client runs every stage's jobs (see pull.JobStage).
	h.puller = pull.New(pull.Options{Store: h.store, Config: cfg, Client: h.sources.Client, Logger: log,
		Metrics: h.reg, Notify: notify, Stages: []pull.JobStage{h.pusher, h.files}})
	key, err := checkpointKey(cfg)
	if err != nil {
		return nil, err
	}
	h.api = api.New(api.Deps{Store: h.store, Config: cfg, Sources: apiSources{h}, Puller: h.puller, Pusher: h.pusher,
		Files: h.files, Events: h.events, Logger: log, Registry: h.reg, CheckpointKey: key})
	if err := h.api.SyncUsers(ctx); err != nil {
		return nil, fmt.Errorf("load the config's users: %w", err)
	}
	if err := h.sources.storeIdentities(ctx, h.store, cfg); err != nil {
		return nil, fmt.Errorf("store the users' resolved identities: %w", err)
	}
	return h, nil
}

// cacheBytes reads Options.FileCacheBytes.
func cacheBytes(n int64) int64 {
	switch {
	case n == 0:
		return files.DefaultCacheBytes
	case n < 0:
		return 0
	}
	return n
}

// checkpointKey is the configured key, or one generated once and kept in
// data_dir so devices' checkpoints survive a restart.
func checkpointKey(cfg *config.Config) ([]byte, error) {
	if cfg.Hub.CheckpointKey != "" {
		return []byte(cfg.Hub.CheckpointKey), nil
	}
	path := filepath.Join(cfg.Hub.DataDir, "checkpoint.key")
	if b, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) < 32 {
			return nil, fmt.Errorf("checkpoint key in %s is shorter than 32 characters", path)
		}
		return []byte(k), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read the checkpoint key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	k := hex.EncodeToString(raw)
	if err := os.MkdirAll(cfg.Hub.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write the checkpoint key: %w", err)
	}
	return []byte(k), nil
}

// Handler is the hub's HTTP handler (device API, admin API, health, metrics).
func (h *Hub) Handler() http.Handler { return h.api.Handler() }

// Store is the hub's store.
func (h *Hub) Store() *store.Store { return h.store }

// Puller is the hub's pull pipeline.
func (h *Hub) Puller() *pull.Puller { return h.puller }

// Pusher is the hub's push pipeline.
func (h *Hub) Pusher() *push.Pusher { return h.pusher }

// Files is the hub's file stage.
func (h *Hub) Files() *files.Syncer { return h.files }

// Sources are the hub's checked sources.
func (h *Hub) Sources() *Sources { return h.sources }

// Metrics gathers the hub's metrics, as the /metrics endpoint serves them.
func (h *Hub) Metrics() prometheus.Gatherer { return h.reg }

// Start starts the background work until ctx ends: scheduled pulls (and
// the push and file jobs), and asking again about logins a back end could
// not be asked about.
func (h *Hub) Start(ctx context.Context) error {
	if err := h.puller.Start(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	h.stopRetry = cancel
	go h.sources.retryLogins(rctx, h.store, h.cfg, h.retry)
	return nil
}

// Run starts the background work and serves HTTP on the config's listen
// address until ctx ends, then shuts down gracefully: requests in flight
// finish, pulls commit the page in flight.
func (h *Hub) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", h.cfg.Hub.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", h.cfg.Hub.Listen, err)
	}
	return h.Serve(ctx, ln)
}

// Serve is Run on a listener the caller made.
func (h *Hub) Serve(ctx context.Context, ln net.Listener) error {
	if err := h.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("start the pipelines: %w", err)
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 30 * time.Second}
	var err error
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	h.log.Info("hub serving", "listen", ln.Addr().String())
	select {
	case err = <-errc:
	case <-ctx.Done():
		h.log.Info("shutting down")
		h.api.Close() // ends event streams so Shutdown does not wait on them
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Listings stop after their page in flight.
	if ferr := h.files.Stop(sctx); ferr != nil {
		h.log.Warn("stop file listings", "error", ferr)
	}
	// The push run finishes its batch in flight before River stops.
	if perr := h.pusher.Stop(sctx); perr != nil {
		h.log.Warn("stop pushes", "error", perr)
	}
	if perr := h.puller.Stop(sctx); perr != nil && !errors.Is(perr, pull.ErrNotStarted) {
		h.log.Warn("stop pulls", "error", perr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close stops the plugins and the change notices, and closes the store.
func (h *Hub) Close() {
	if h.stopRetry != nil {
		h.stopRetry()
	}
	if h.api != nil {
		h.api.Close()
	}
	if h.sources != nil {
		h.sources.Stop()
	}
	if h.notices != nil {
		h.notices.Close()
	}
	if h.store != nil && h.ownsDB {
		_ = h.store.Close()
	}
}

// apiSources shows the sources to the API.
type apiSources struct{ h *Hub }

func (a apiSources) Names() []string { return a.h.sources.Names() }

func (a apiSources) Schema(_ context.Context, source string) (sdk.Schema, error) {
	src, ok := a.h.sources.Get(source)
	if !ok {
		return sdk.Schema{}, fmt.Errorf("unknown source %q", source)
	}
	return src.Schema, nil
}

func (a apiSources) State(source string) api.PluginState {
	src, ok := a.h.sources.Get(source)
	if !ok {
		return api.PluginState{State: "unknown"}
	}
	ps := api.PluginState{State: "in_process"}
	if src.Host != nil {
		st := src.Host.State()
		ps = api.PluginState{State: strings.ToLower(st.Phase.String()), Restarts: st.Restarts}
		if st.LastError != nil {
			ps.LastError = st.LastError.Error()
		}
	}
	for _, ie := range src.IdentityErrors() {
		ps.IdentityErrors = append(ps.IdentityErrors, api.IdentityError{User: ie.User, Login: ie.Login, Error: ie.Err.Error(), Retrying: ie.Transient})
	}
	return ps
}

// Restart restarts the source's plugin (an injected client has none) and
// resolves the users' logins on it again.
func (a apiSources) Restart(ctx context.Context, source string) error {
	src, ok := a.h.sources.Get(source)
	if !ok {
		return fmt.Errorf("unknown source %q", source)
	}
	if src.Host != nil {
		if err := src.Host.Restart(ctx); err != nil {
			return err
		}
	}
	return a.h.sources.ResolveLogins(ctx, a.h.store, a.h.cfg, source)
}
