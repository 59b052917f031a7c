package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// authState holds issued tokens and the service-protection windows.
type authState struct {
	mu     sync.Mutex
	tokens map[string]*tokenInfo
}

type tokenInfo struct {
	expires time.Time
	hits    []time.Time // request times inside the current window
}

func newAuthState() *authState { return &authState{tokens: map[string]*tokenInfo{}} }

func (a *authState) issue(now time.Time, ttl time.Duration) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, t := range a.tokens {
		if now.After(t.expires) {
			delete(a.tokens, k)
		}
	}
	tok := newAccessToken(now, ttl)
	a.tokens[tok] = &tokenInfo{expires: now.Add(ttl)}
	return tok
}

func (a *authState) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tokens)
}

// spend charges n requests to token; past the budget it returns the
// documented 429 with Retry-After.
func (a *authState) spend(token string, n, budget int, window time.Duration, now time.Time) *apiError {
	if budget <= 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tokens[token]
	if t == nil {
		return nil
	}
	cut := 0
	for cut < len(t.hits) && !t.hits[cut].After(now.Add(-window)) {
		cut++
	}
	t.hits = t.hits[cut:]
	if len(t.hits)+n > budget {
		wait := window
		if len(t.hits) > 0 {
			idx := min(len(t.hits)-1, max(0, len(t.hits)+n-budget-1))
			wait = t.hits[idx].Add(window).Sub(now)
		}
		secs := max(1, int(math.Ceil(wait.Seconds())))
		e := newErr(http.StatusTooManyRequests, codeThrottleRequests,
			"Number of requests exceeded the limit of %d over time window of %d seconds.", budget, int(window.Seconds()))
		e.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
		return e
	}
	for range n {
		t.hits = append(t.hits, now)
	}
	return nil
}

// newAccessToken returns an opaque, JWT-looking bearer token.
func newAccessToken(now time.Time, ttl time.Duration) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256","kid":"emulator"}`))
	payload := enc.EncodeToString([]byte(fmt.Sprintf(`{"aud":"dataverse-emulator","iat":%d,"exp":%d,"jti":%q}`,
		now.Unix(), now.Add(ttl).Unix(), uuid.NewString())))
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return header + "." + payload + "." + enc.EncodeToString(sig)
}

// authorize checks the bearer token of an API call.
func (s *Server) authorize(r *http.Request) (string, *apiError) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", newErr(http.StatusUnauthorized, codeAuth, "The requested resource requires authentication.")
	}
	s.auth.mu.Lock()
	t := s.auth.tokens[strings.TrimSpace(tok)]
	s.auth.mu.Unlock()
	if t == nil || !s.now().Before(t.expires) {
		return "", newErr(http.StatusUnauthorized, codeAuth, "The requested resource requires authentication.")
	}
	return strings.TrimSpace(tok), nil
}

// serveToken implements POST /{tenant}/oauth2/v2.0/token for the client
// credentials grant, answering failures in the Microsoft identity platform
// error shape.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		s.tokenError(w, http.StatusMethodNotAllowed, "invalid_request", 900561,
			"AADSTS900561: The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	if tenant != s.opts.TenantID {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf(
			"AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	case grant != "client_credentials":
		s.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("AADSTS70003: The app requested an unsupported grant type '%s'.", grant))
		return
	case clientID == "":
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: 'client_id'.")
		return
	case clientID != s.opts.ClientID:
		s.tokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"AADSTS700016: Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
			clientID, tenant))
		return
	case secret == "" && form.Get("client_assertion") == "":
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000218,
			"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case secret != s.opts.ClientSecret:
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
			"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.",
			clientID))
		return
	}
	scope := form.Get("scope")
	resource, ok := strings.CutSuffix(scope, "/.default")
	if scope == "" || !ok {
		s.tokenError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
			"AADSTS1002012: The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
			scope))
		return
	}
	if !sameResource(resource, baseURL(r)) {
		s.tokenError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf(
			"AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
			resource, tenant))
		return
	}
	ttl := s.opts.TokenTTL
	tok := s.auth.issue(s.now(), ttl)
	exp := max(1, int(ttl.Seconds())-1)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	_, _ = w.Write(marshal(obj{{"token_type", "Bearer"}, {"expires_in", exp}, {"ext_expires_in", exp}, {"access_token", tok}}))
}

// sameResource compares the scope's resource with the organization URL;
// "localhost" and "127.0.0.1" are the same host here.
func sameResource(resource, base string) bool {
	norm := func(s string) string {
		u, err := url.Parse(strings.TrimRight(s, "/"))
		if err != nil {
			return s
		}
		host := strings.ToLower(u.Host)
		host = strings.Replace(host, "localhost", "127.0.0.1", 1)
		return strings.ToLower(u.Scheme) + "://" + host
	}
	return norm(resource) == norm(base)
}

func (s *Server) tokenError(w http.ResponseWriter, status int, code string, num int, desc string) {
	now := s.now().UTC()
	trace, corr := uuid.NewString(), uuid.NewString()
	ts := now.Format("2006-01-02 15:04:05Z")
	body := obj{
		{"error", code},
		{"error_description", desc + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts},
		{"error_codes", []int{num}},
		{"timestamp", ts},
		{"trace_id", trace},
		{"correlation_id", corr},
		{"error_uri", "https://login.microsoftonline.com/error?code=" + strconv.Itoa(num)},
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(marshal(body))
}

// WhoAmIResponse is the answer of the WhoAmI function.
type WhoAmIResponse struct {
	BusinessUnitID string `json:"BusinessUnitId"`
	UserID         string `json:"UserId"`
	OrganizationID string `json:"OrganizationId"`
}

// WhoAmI reports the application user the client credentials act as.
func (s *Server) WhoAmI() WhoAmIResponse {
	return WhoAmIResponse{BusinessUnitID: s.rootBU.String(), UserID: s.appUser.String(), OrganizationID: s.orgID.String()}
}

func (s *Server) serveWhoAmI(req *apiRequest) *apiResponse {
	if req.method != http.MethodGet {
		return errorResponse(methodErr(req.method), req.pref)
	}
	who := s.WhoAmI()
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", req.api() + "/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"},
		{"BusinessUnitId", who.BusinessUnitID},
		{"UserId", who.UserID},
		{"OrganizationId", who.OrganizationID},
	})
}

func methodErr(method string) *apiError {
	return newErr(http.StatusMethodNotAllowed, codeQuery, "The requested resource does not support http method '%s'.", method)
}
