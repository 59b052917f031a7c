package emulator

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/connectors/internal/loopback"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultAccessToken  = "synchub-dev"
	DefaultRefreshToken = "synchub-dev-refresh"
	DefaultClientID     = "synchub-dev"
	DefaultClientSecret = "synchub-dev"
	DefaultRoot         = "/synchub"
	// MaxUploadBytes is the most one upload call (or one session append)
	// carries: 150 MiB.
	MaxUploadBytes = 150 << 20
)

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	// Seed makes ids, seeded content and times deterministic.
	Seed int64
	// AccessToken is a bearer token that is always accepted and never
	// expires (default "synchub-dev"), for standalone use.
	AccessToken string
	// RefreshToken, ClientID and ClientSecret are what POST /oauth2/token
	// accepts for the refresh_token grant (defaults "synchub-dev-refresh",
	// "synchub-dev", "synchub-dev"). A client may leave its secret out, as
	// PKCE apps do.
	RefreshToken, ClientID, ClientSecret string
	// TokenTTL is the lifetime of refreshed access tokens (default 4 h, as
	// Dropbox's short-lived tokens).
	TokenTTL time.Duration
	// Root is the folder the seeded records live in (default "/synchub").
	Root string
	// Records seed the tree <Root>/<Entity>/<Name>_<ID>/ with a few small
	// files each (a PDF, a JPEG, a text file).
	Records []RecordFolder
	// Now is the clock (default time.Now); tests move it to expire tokens
	// and budget windows.
	Now func() time.Time
	// RequestBudget is the number of authorized requests per BudgetWindow
	// (default window 1 minute) before 429; 0 = unlimited.
	RequestBudget int
	BudgetWindow  time.Duration
	// RetryAfter is the wait a 429 asks for (default: until the window
	// ends, at least a second).
	RetryAfter time.Duration
	// MaxUploadBytes caps one upload call's body (default 150 MiB).
	MaxUploadBytes int64
	// Logger receives diagnostics (default: discard).
	Logger hclog.Logger
}

// RecordFolder names a record whose folder the emulator seeds.
type RecordFolder struct {
	Entity, Name, ID string
}

// Server is an in-memory Dropbox.
type Server struct {
	opts Options
	log  hclog.Logger
	now  func() time.Time

	mu      sync.Mutex // guards st, rnd, tokens, budget
	st      *store
	rnd     *rand.Rand
	tokens  map[string]time.Time // refreshed access token -> expiry
	winFrom time.Time
	winUsed int
	account account

	faults   faultState
	requests atomic.Int64

	ls loopback.Server
}

// account is who the tokens belong to.
type account struct {
	id, given, surname, email string
}

// New builds a server with the seeded tree; it does not listen until Start.
func New(opts Options) *Server {
	if opts.AccessToken == "" {
		opts.AccessToken = DefaultAccessToken
	}
	if opts.RefreshToken == "" {
		opts.RefreshToken = DefaultRefreshToken
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 4 * time.Hour
	}
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	opts.Root = "/" + strings.Trim(opts.Root, "/")
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RequestBudget > 0 && opts.BudgetWindow <= 0 {
		opts.BudgetWindow = time.Minute
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = MaxUploadBytes
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger.Named("dropbox-emulator"),
		now:    opts.Now,
		st:     newStore(),
		rnd:    rand.New(rand.NewPCG(uint64(opts.Seed), 0x64726f70626f78)),
		tokens: map[string]time.Time{},
	}
	s.account = account{id: "dbid:" + s.randomString(30), given: "SyncHub", surname: "Developer",
		email: "dev@synchub.example"}
	s.seed()
	return s
}

// Handler serves the token endpoint, the RPC routes and the content routes.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on 127.0.0.1 with a free port and returns the base URL,
// which is both the api_url and the content_url of the connector.
func (s *Server) Start() (string, error) { return s.StartOn("127.0.0.1:0") }

// StartOn listens on addr (host:port) and returns the base URL.
func (s *Server) StartOn(addr string) (string, error) {
	return s.ls.Start(addr, s.Handler(), s.log, "dropbox emulator")
}

// Close stops the listener started by Start.
func (s *Server) Close() { s.ls.Close() }

// URL is the base URL after Start ("" before).
func (s *Server) URL() string { return s.ls.URL() }

// TokenURL is the OAuth token endpoint.
func (s *Server) TokenURL() string { return s.URL() + "/oauth2/token" }

// Options returns the options in effect, defaults applied.
func (s *Server) Options() Options { return s.opts }

// Requests is the number of HTTP requests served, token calls included.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// routes maps a route to its handler and its style.
type route struct {
	handle func(s *Server, w http.ResponseWriter, r *http.Request, name string)
	get    bool // also answers GET (content-download routes)
}

var routes = map[string]route{
	"users/get_current_account":           {handle: (*Server).currentAccount},
	"files/list_folder":                   {handle: (*Server).listFolder},
	"files/list_folder/continue":          {handle: (*Server).listFolderContinue},
	"files/list_folder/get_latest_cursor": {handle: (*Server).latestCursor},
	"files/get_metadata":                  {handle: (*Server).getMetadata},
	"files/create_folder_v2":              {handle: (*Server).createFolder},
	"files/delete_v2":                     {handle: (*Server).deleteV2},
	"files/download":                      {handle: (*Server).download, get: true},
	"files/upload":                        {handle: (*Server).upload},
	"files/upload_session/start":          {handle: (*Server).sessionStart},
	"files/upload_session/append_v2":      {handle: (*Server).sessionAppend},
	"files/upload_session/finish":         {handle: (*Server).sessionFinish},
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.URL.Path == "/oauth2/token" {
		s.token(w, r)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/2/")
	rt, known := routes[name]
	if !ok || !known {
		badRequest(w, name, "Unknown API function")
		return
	}
	if r.Method != http.MethodPost && !(rt.get && r.Method == http.MethodGet) {
		w.Header().Set("Allow", http.MethodPost)
		badRequest(w, name, "Expected POST, got %s", r.Method)
		return
	}
	if f, ok := s.faults.take(name, false); ok {
		s.writeFault(w, f)
		return
	}
	if e := s.authorize(r); e != nil {
		s.writeAPIError(w, e)
		return
	}
	if e := s.spend(); e != nil {
		s.writeAPIError(w, e)
		return
	}
	rt.handle(s, w, r, name)
}

// authorize checks the bearer token.
func (s *Server) authorize(r *http.Request) *apiError {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return authError("invalid_access_token")
	}
	if tok == s.opts.AccessToken {
		return nil
	}
	s.mu.Lock()
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !known:
		return authError("invalid_access_token")
	case !s.now().Before(exp):
		return authError("expired_access_token")
	}
	return nil
}

func authError(t string) *apiError {
	return &apiError{status: http.StatusUnauthorized, summary: t, body: tag{t},
		header: http.Header{"Www-Authenticate": {"Dropbox-API"}}}
}

// spend counts a request against the budget; over it, 429.
func (s *Server) spend() *apiError {
	if s.opts.RequestBudget <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.winFrom.IsZero() || !now.Before(s.winFrom.Add(s.opts.BudgetWindow)) {
		s.winFrom, s.winUsed = now, 0
	}
	if s.winUsed < s.opts.RequestBudget {
		s.winUsed++
		return nil
	}
	wait := s.opts.RetryAfter
	if wait <= 0 {
		wait = s.winFrom.Add(s.opts.BudgetWindow).Sub(now)
	}
	return tooManyRequests(wait)
}

func tooManyRequests(wait time.Duration) *apiError {
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	return &apiError{status: http.StatusTooManyRequests, summary: "too_many_requests",
		body:   map[string]any{"reason": tag{"too_many_requests"}, "retry_after": secs},
		header: http.Header{"Retry-After": {fmt.Sprint(secs)}}}
}

// randomString returns n characters of URL-safe base64 from the seeded
// generator; the caller holds s.mu or runs before the server is shared.
func (s *Server) randomString(n int) string {
	b := make([]byte, (n*3+3)/4)
	for i := range b {
		b[i] = byte(s.rnd.Uint32())
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// newID returns a fresh "id:..." (s.mu held).
func (s *Server) newID() string { return "id:" + s.randomString(22) }

// newRev returns a fresh rev: hex, at least 9 digits (s.mu held).
func (s *Server) newRev() string {
	s.st.revs++
	return fmt.Sprintf("%x", uint64(0x15f000000000)+uint64(s.st.revs))
}
