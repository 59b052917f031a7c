package emulator

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/connectors/internal/loopback"
)

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	// Seed makes the generated data deterministic.
	Seed int64
	// Accounts is the number of seeded accounts (default 50; negative: none).
	Accounts int
	// ContactsPerAccount is the number of contacts seeded per account (default 2; negative: none).
	ContactsPerAccount int
	// NotesPerAccount is the number of annotations with an attachment seeded
	// per account (default 1; negative: none).
	NotesPerAccount int
	// Users is the number of human systemusers owning the data (default 4);
	// the application user the client credentials map to comes on top.
	Users int

	// ClientID, ClientSecret and TenantID are the accepted client
	// credentials (defaults "synchub-dev", "synchub-dev", "synchub-tenant").
	ClientID, ClientSecret, TenantID string
	// TokenTTL is the access token lifetime (default 1h).
	TokenTTL time.Duration
	// DeltaTokenTTL is how long change-tracking tokens stay valid (default 7 days).
	DeltaTokenTTL time.Duration

	// RequestBudget is the number of requests a token may make per
	// BudgetWindow (default window 300 s) before getting 429; 0 = unlimited.
	RequestBudget int
	BudgetWindow  time.Duration

	// Latency is added to every HTTP request.
	Latency time.Duration
	// MaxPageSize is the default and maximum page size (default 5000).
	MaxPageSize int
	// MaxUploadFileSize caps annotation attachments (default 5 MiB, the
	// Dataverse organization default).
	MaxUploadFileSize int
	// Now is the clock (default time.Now); tests move it to expire tokens.
	Now func() time.Time
	// Logger receives diagnostics (default: discard).
	Logger hclog.Logger
}

// maxBody caps request bodies; larger ones get 413.
const maxBody = 128 << 20

// Server is an in-memory Dataverse Web API.
type Server struct {
	opts   Options
	log    hclog.Logger
	now    func() time.Time
	defs   []*entityDef
	st     *store
	auth   *authState
	faults faultState

	requests  atomic.Int64
	throttled atomic.Int64
	bodyCap   int64 // maxBody; tests lower it

	orgID   uuid.UUID
	appUser uuid.UUID
	rootBU  uuid.UUID
	humans  []uuid.UUID

	ls loopback.Server
}

// New builds a server with seeded data; it does not listen until Start.
func New(opts Options) *Server {
	if opts.Accounts == 0 {
		opts.Accounts = 50
	}
	if opts.ContactsPerAccount == 0 {
		opts.ContactsPerAccount = 2
	}
	if opts.NotesPerAccount == 0 {
		opts.NotesPerAccount = 1
	}
	opts.Accounts, opts.ContactsPerAccount, opts.NotesPerAccount =
		max(opts.Accounts, 0), max(opts.ContactsPerAccount, 0), max(opts.NotesPerAccount, 0)
	if opts.Users <= 0 {
		opts.Users = 4
	}
	if opts.ClientID == "" {
		opts.ClientID = "synchub-dev"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "synchub-dev"
	}
	if opts.TenantID == "" {
		opts.TenantID = "synchub-tenant"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.DeltaTokenTTL <= 0 {
		opts.DeltaTokenTTL = 7 * 24 * time.Hour
	}
	if opts.RequestBudget > 0 && opts.BudgetWindow <= 0 {
		opts.BudgetWindow = 300 * time.Second
	}
	if opts.MaxPageSize <= 0 || opts.MaxPageSize > 5000 {
		opts.MaxPageSize = 5000
	}
	if opts.MaxUploadFileSize <= 0 {
		opts.MaxUploadFileSize = 5 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	s := &Server{opts: opts, log: opts.Logger.Named("dataverse-emulator"), now: opts.Now, defs: buildDefs(), bodyCap: maxBody}
	s.st = newStore(s.defs, s.now, opts.DeltaTokenTTL)
	s.auth = newAuthState()
	s.seed()
	return s
}

// Handler serves the token endpoint, the Web API and the /_emulator admin API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on 127.0.0.1 with a free port and returns the base URL.
func (s *Server) Start() (string, error) { return s.StartOn("127.0.0.1:0") }

// StartOn listens on addr (host:port) and returns the base URL.
func (s *Server) StartOn(addr string) (string, error) {
	return s.ls.Start(addr, s.Handler(), s.log, "emulator")
}

// Close stops the listener started by Start.
func (s *Server) Close() { s.ls.Close() }

// URL is the organization URL (e.g. http://127.0.0.1:PORT) after Start.
func (s *Server) URL() string { return s.ls.URL() }

// APIURL is <URL>/api/data/v9.2.
func (s *Server) APIURL() string { return s.URL() + "/api/data/v9.2" }

// TokenURL is the client-credentials token endpoint.
func (s *Server) TokenURL() string { return s.URL() + "/" + s.opts.TenantID + "/oauth2/v2.0/token" }

// Requests is the number of HTTP requests served (admin endpoints excluded).
func (s *Server) Requests() int { return int(s.requests.Load()) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emulator") {
		s.serveAdmin(w, r)
		return
	}
	s.requests.Add(1)
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	f, ok := s.faults.take(r.Method, r.URL.Path)
	if !ok {
		s.route(w, r)
		return
	}
	s.log.Debug("fault injected", "method", r.Method, "path", r.URL.Path, "status", f.Status, "after_apply", f.AfterApply)
	if f.AfterApply {
		s.route(discardWriter{h: http.Header{}}, r)
		if f.Status == 0 && !f.Garbage {
			panic(http.ErrAbortHandler) // the write happened, the answer is lost
		}
	}
	s.writeFault(w, f)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if tenant, ok := strings.CutSuffix(p, "/oauth2/v2.0/token"); ok && strings.Count(tenant, "/") == 1 {
		s.serveToken(w, r, strings.TrimPrefix(tenant, "/"))
		return
	}
	for _, v := range []string{"v9.2", "v9.1", "v9.0"} {
		prefix := "/api/data/" + v
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			s.serveAPI(w, r, v, strings.TrimPrefix(strings.TrimPrefix(p, prefix), "/"))
			return
		}
	}
	http.NotFound(w, r)
}

// apiRequest is one Web API operation, from HTTP or from a $batch part.
type apiRequest struct {
	method string
	path   string // below /api/data/vX, e.g. "accounts(…)"
	rawQ   string
	query  url.Values
	header http.Header
	body   []byte
	base   string // organization URL, e.g. http://127.0.0.1:1234
	ver    string
	token  string
	pref   prefer
}

func (q *apiRequest) api() string { return q.base + "/api/data/" + q.ver }

// opCtx carries change-set state through dispatch: inside a change set the
// store lock is already held and writes are recorded for rollback.
type opCtx struct {
	tx   *txn
	cids map[string]string // Content-ID -> entity path, e.g. "accounts(…)"
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, ver, path string) {
	req := &apiRequest{method: r.Method, path: path, rawQ: r.URL.RawQuery, header: r.Header, ver: ver,
		base: baseURL(r), pref: parsePrefer(r.Header)}
	req.query = parseQuery(r.URL.RawQuery)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.bodyCap))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeResponse(w, errorResponse(newErr(http.StatusRequestEntityTooLarge, "", "The request body exceeds the maximum allowed size of %d bytes.", s.bodyCap), req.pref))
			return
		}
		writeResponse(w, errorResponse(newErr(http.StatusBadRequest, "", "The request body could not be read."), req.pref))
		return
	}
	req.body = body
	token, aerr := s.authorize(r)
	if aerr != nil {
		aerr.header = http.Header{"Www-Authenticate": {"Bearer authorization_uri=" + req.base + "/" + s.opts.TenantID +
			"/oauth2/authorize, resource_id=" + req.base + "/"}}
		writeResponse(w, errorResponse(aerr, req.pref))
		return
	}
	req.token = token
	if path != "$batch" {
		if terr := s.auth.spend(token, 1, s.opts.RequestBudget, s.opts.BudgetWindow, s.now()); terr != nil {
			s.throttled.Add(1)
			writeResponse(w, errorResponse(terr, req.pref))
			return
		}
	}
	resp := s.dispatch(&opCtx{}, req)
	s.log.Debug("request", "method", r.Method, "path", path, "status", resp.status)
	writeResponse(w, resp)
}

// parseQuery splits on & only: OData nests options with ';' inside
// $expand=Attributes($select=…;$filter=…), which url.ParseQuery rejects.
func parseQuery(raw string) url.Values {
	v := url.Values{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, val, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(val); err == nil {
			val = uv
		}
		v[k] = append(v[k], val)
	}
	return v
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeResponse(w http.ResponseWriter, resp *apiResponse) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("REQ_ID", uuid.NewString())
	if resp.body != nil {
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	if len(resp.body) > 0 {
		_, _ = w.Write(resp.body)
	}
}

// discardWriter swallows a response (faults with AfterApply).
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// prefer is the parsed Prefer header.
type prefer struct {
	maxPageSize     int
	trackChanges    bool
	returnRepr      bool
	continueOnError bool
	annotations     []string
	rawAnnotations  string
}

func parsePrefer(h http.Header) prefer {
	var p prefer
	for _, line := range h.Values("Prefer") {
		for _, item := range splitOutsideQuotes(line, ',') {
			item = strings.TrimSpace(item)
			name, val, _ := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			val = strings.TrimSpace(val)
			switch name {
			case "odata.maxpagesize":
				if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n > 0 {
					p.maxPageSize = n
				}
			case "odata.track-changes":
				p.trackChanges = true
			case "return":
				p.returnRepr = strings.EqualFold(strings.Trim(val, `"`), "representation")
			case "odata.continue-on-error":
				p.continueOnError = true
			case "odata.include-annotations":
				p.rawAnnotations = val
				for _, a := range strings.Split(strings.Trim(val, `"`), ",") {
					if a = strings.TrimSpace(a); a != "" {
						p.annotations = append(p.annotations, a)
					}
				}
			}
		}
	}
	return p
}

// wants reports whether the annotation term was requested.
func (p prefer) wants(term string) bool {
	ok := false
	for _, a := range p.annotations {
		neg := strings.HasPrefix(a, "-")
		pat := strings.TrimPrefix(a, "-")
		match := pat == "*" || pat == term || (strings.HasSuffix(pat, "*") && strings.HasPrefix(term, strings.TrimSuffix(pat, "*")))
		if match {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	start, inQ := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case sep:
			if !inQ {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
