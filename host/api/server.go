package api

import (
	"context"
	"crypto/rand"
	_ "embed"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/events"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPI returns the API's OpenAPI 3 document, as served at
// /v1/openapi.yaml.
func OpenAPI() []byte { return append([]byte(nil), openAPISpec...) }

// PluginFailed is the PluginState.State of a plugin that gave up
// restarting; it makes the hub not ready.
const PluginFailed = "failed"

// PluginState is what the admin API shows of a source's plugin.
type PluginState struct {
	// State is the plugin's phase: stopped, starting, running, restarting
	// or failed.
	State     string `json:"state"`
	LastError string `json:"last_error,omitempty"`
	Restarts  int    `json:"restarts"`
	// IdentityErrors are the users whose login (`identity { login = ... }`)
	// the source's connector could not resolve when it last asked: a login
	// the back end does not know leaves the user without an identity on
	// the source; one it could not be asked about (Retrying) keeps the
	// identity it last resolved to, and the hub asks again.
	IdentityErrors []IdentityError `json:"identity_errors,omitempty"`
}

// IdentityError is a user's login a source's connector could not resolve.
type IdentityError struct {
	User  string `json:"user"`
	Login string `json:"login"`
	Error string `json:"error"`
	// Retrying: the back end could not be asked; the hub asks again.
	Retrying bool `json:"retrying,omitempty"`
}

// Sources is what the API needs of the configured sources and their
// plugins. The API never calls a connector itself.
type Sources interface {
	// Names lists the running sources.
	Names() []string
	// Schema returns the connector's schema of the source's configured
	// entities (cached by the implementation).
	Schema(ctx context.Context, source string) (sdk.Schema, error)
	// State returns the source's plugin state.
	State(source string) PluginState
	// Restart stops and starts the source's plugin, clearing FAILED.
	Restart(ctx context.Context, source string) error
}

// Puller is what the API needs of the pull stage.
type Puller interface {
	// Trigger queues a pull of the source's entities (all when empty).
	Trigger(ctx context.Context, source string, entities []string, full bool) error
	// EnsureFresh pulls the source's stale entities before a device
	// downloads, waiting a bounded time.
	EnsureFresh(ctx context.Context, source string) error
}

// Deps are the Server's dependencies. Store, Config and Sources are
// required; the rest have defaults.
type Deps struct {
	Store   *store.Store
	Config  *config.Config
	Sources Sources
	// Puller may be nil: admin pulls then answer 503 and downloads read the
	// mirror as it is.
	Puller Puller
	// Pusher may be nil: uploads, sync errors and dead letters then answer
	// 503 and downloads report no applied mutations.
	Pusher Pusher
	// Files may be nil: file content, uploads and listings then answer
	// 503 (file metadata still rides the changes feed).
	Files Files
	// Events carries change notices to SSE streams; nil makes a private hub
	// (streams then only get heartbeats and Last-Event-ID catch-up).
	Events *events.Hub
	Logger hclog.Logger
	// Registry receives the HTTP metrics and is served at /metrics; nil
	// makes a private one.
	Registry *prometheus.Registry
	// Now is the clock (tests inject one); default time.Now.
	Now func() time.Time
	// CheckpointKey signs checkpoints; when empty, Config.Hub.CheckpointKey
	// is used, and when that is empty too a random key is made for this
	// process (checkpoints then do not survive a restart: devices get 400
	// and resync). The hub's wiring passes the key it keeps in data_dir.
	CheckpointKey []byte
	// Heartbeat is the SSE heartbeat interval (default 15s).
	Heartbeat time.Duration
	// FreshWait bounds Puller.EnsureFresh before a download (default 5s).
	FreshWait time.Duration
}

// Server is the REST API. Make one with New; it is safe for concurrent use.
type Server struct {
	st        *store.Store
	cfg       *config.Config
	sources   Sources
	puller    Puller
	pusher    Pusher
	files     Files
	events    *events.Hub
	log       hclog.Logger
	reg       *prometheus.Registry
	now       func() time.Time
	ckKey     []byte
	heartbeat time.Duration
	freshWait time.Duration
	maxBody   int64

	engine  *gin.Engine
	metrics *httpMetrics
	logins  *loginLimiter

	closeOnce sync.Once
	closed    chan struct{}
}

// New builds the server and its routes.
func New(d Deps) *Server {
	s := &Server{
		st: d.Store, cfg: d.Config, sources: d.Sources, puller: d.Puller, pusher: d.Pusher, events: d.Events,
		log: d.Logger, reg: d.Registry, now: d.Now, ckKey: d.CheckpointKey,
		heartbeat: d.Heartbeat, freshWait: d.FreshWait,
		files:  d.Files,
		closed: make(chan struct{}),
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	s.log = s.log.Named("api")
	if s.events == nil {
		s.events = events.New()
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.ckKey) == 0 && s.cfg.Hub.CheckpointKey != "" {
		s.ckKey = []byte(s.cfg.Hub.CheckpointKey)
	}
	if len(s.ckKey) == 0 {
		s.ckKey = make([]byte, 32)
		_, _ = rand.Read(s.ckKey)
		s.log.Warn("no checkpoint key configured: using a random one; devices resync after a restart")
	}
	if s.heartbeat <= 0 {
		s.heartbeat = 15 * time.Second
	}
	if s.freshWait <= 0 {
		s.freshWait = 5 * time.Second
	}
	s.maxBody = s.cfg.Hub.MaxBodyBytes
	if s.maxBody <= 0 {
		s.maxBody = 10 << 20
	}
	s.metrics = newHTTPMetrics(s.reg, s.log)
	s.logins = newLoginLimiter()
	s.engine = s.routes()
	return s
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.engine }

// Close ends the open event streams (they would otherwise hold an
// http.Server's graceful shutdown until their clients leave). Requests
// served afterwards still work.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// No proxy is trusted: ClientIP is the connection's address, which the
	// login rate limit keys on. A deployment behind a proxy sets it there.
	_ = r.SetTrustedProxies(nil)
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(s.logRequests, s.metrics.middleware, s.recoverPanics, checkQuery, s.limitBody)
	r.NoRoute(func(c *gin.Context) { abortError(c, http.StatusNotFound, codeNotFound, "no such route") })
	r.NoMethod(func(c *gin.Context) {
		abortError(c, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method not allowed on this route")
	})

	r.GET("/health/live", s.live)
	r.GET("/health/ready", s.ready)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})))

	v1 := r.Group("/v1")
	v1.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openAPISpec) })
	v1.POST("/auth/token", s.login)
	v1.POST("/auth/refresh", s.refresh)

	dev := v1.Group("", s.authenticate)
	dev.POST("/auth/logout", s.logout)
	dev.GET("/me", s.me)
	dev.GET("/sources", s.listSources)
	dev.GET("/sources/:source/schema", s.schema)
	dev.GET("/sources/:source/changes", s.changes)
	dev.GET("/sources/:source/events", s.eventStream)
	dev.POST("/sources/:source/mutations", s.postMutations)
	dev.GET("/sources/:source/sync-errors", s.listSyncErrors)
	dev.POST("/sources/:source/sync-errors/:id/resolve", s.resolveSyncError)
	dev.GET("/files/:id/content", s.fileContent)
	dev.POST("/sources/:source/files", s.postFile)
	dev.GET("/sources/:source/files/uploads/:id", s.getUpload)

	admin := v1.Group("/admin", s.authenticate, s.requireAdmin)
	admin.GET("/sources", s.adminSources)
	admin.POST("/sources/:source/pull", s.adminPull)
	admin.GET("/sources/:source/entities/:entity/cursor", s.adminGetCursor)
	admin.PUT("/sources/:source/entities/:entity/cursor", s.adminSetCursor)
	admin.DELETE("/sources/:source/entities/:entity/cursor", s.adminResetCursor)
	admin.POST("/sources/:source/restart", s.adminRestart)
	admin.GET("/sources/:source/dead-letters", s.adminDeadLetters)
	admin.POST("/sources/:source/dead-letters/:id/retry", s.adminRetryDeadLetter)
	admin.DELETE("/sources/:source/dead-letters/:id", s.adminDiscardDeadLetter)
	admin.GET("/sources/:source/files/problems", s.adminFileProblems)
	admin.POST("/sources/:source/files/sync", s.adminFileSync)
	return r
}
