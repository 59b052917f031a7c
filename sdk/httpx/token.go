package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// refreshAhead is how long before expiry a cached token is replaced, so a
// request never leaves with a token that expires in flight. Short-lived
// tokens are refreshed after half their lifetime instead.
const refreshAhead = time.Minute

// ResettableTokenSource caches an access token until shortly before it
// expires and can be told to drop it, which the Client does once when the
// server answers 401 (the token was revoked or rotated early). It is safe
// for concurrent use; concurrent callers share one fetch.
type ResettableTokenSource struct {
	fetch func(ctx context.Context) (*oauth2.Token, error)
	now   func() time.Time

	sem       chan struct{} // a one-slot lock whose wait honours ctx; guards the fields below
	tok       *oauth2.Token
	refreshAt time.Time // zero: no expiry known, keep until Reset
}

// NewResettableTokenSource wraps src. For Reset to yield a new token, src
// must fetch a fresh one on every call (not be an oauth2.ReuseTokenSource);
// ClientCredentials and RefreshToken build sources that do.
func NewResettableTokenSource(src oauth2.TokenSource) *ResettableTokenSource {
	return newResettable(func(context.Context) (*oauth2.Token, error) { return src.Token() })
}

func newResettable(fetch func(ctx context.Context) (*oauth2.Token, error)) *ResettableTokenSource {
	return &ResettableTokenSource{fetch: fetch, now: time.Now, sem: make(chan struct{}, 1)}
}

// Token implements oauth2.TokenSource; a fetch it starts is bounded by
// DefaultTimeout.
func (s *ResettableTokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	return s.TokenContext(ctx)
}

// TokenContext returns the cached token, fetching a new one when there is
// none or it is about to expire. ctx bounds both the wait for a concurrent
// fetch and the fetch itself (for sources built by ClientCredentials and
// RefreshToken).
func (s *ResettableTokenSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.sem }()

	now := s.now()
	if s.tok != nil && (s.refreshAt.IsZero() || now.Before(s.refreshAt)) {
		return s.tok, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("httpx: token source returned an empty access token")
	}
	s.tok, s.refreshAt = tok, refreshTime(now, tok.Expiry)
	return tok, nil
}

// Reset drops the cached token; the next TokenContext fetches a new one.
func (s *ResettableTokenSource) Reset() {
	s.sem <- struct{}{}
	s.tok = nil
	<-s.sem
}

// invalidate drops the cached token only if it is still accessToken, so
// several requests rejected with the same token cause one refresh, not many.
func (s *ResettableTokenSource) invalidate(accessToken string) {
	s.sem <- struct{}{}
	if s.tok != nil && s.tok.AccessToken == accessToken {
		s.tok = nil
	}
	<-s.sem
}

// cached returns the access token currently held, "" if none; used to scrub
// it from error bodies.
func (s *ResettableTokenSource) cached() string {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	if s.tok == nil {
		return ""
	}
	return s.tok.AccessToken
}

func refreshTime(now, expiry time.Time) time.Time {
	if expiry.IsZero() {
		return time.Time{}
	}
	life := expiry.Sub(now)
	if life <= 0 {
		return now
	}
	return expiry.Add(-min(refreshAhead, life/2))
}

// ClientCredentials returns a token source for the OAuth2 client-credentials
// grant (Entra ID, Salesforce, Creatio Identity Service): it posts clientID,
// clientSecret, scopes and extra to tokenURL, caches the token and fetches a
// new one shortly before it expires.
//
// ctx only supplies the HTTP client for token calls (the oauth2.HTTPClient
// context value; default: a client with DefaultTimeout); it is not kept for
// cancellation. Each fetch is bounded by the context of the request that
// needs the token and by the Client's per-attempt Timeout.
func ClientCredentials(ctx context.Context, tokenURL, clientID, clientSecret string, scopes []string, extra url.Values) *ResettableTokenSource {
	cfg := &clientcredentials.Config{
		ClientID:       clientID,
		ClientSecret:   clientSecret,
		TokenURL:       tokenURL,
		Scopes:         scopes,
		EndpointParams: extra,
	}
	hc := tokenHTTPClient(ctx)
	return newResettable(func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if err != nil {
			return nil, fmt.Errorf("httpx: client credentials token from %s: %w", redactRawURL(tokenURL), err)
		}
		return tok, nil
	})
}

// RefreshToken returns a token source for the OAuth2 refresh-token grant
// (Dropbox's short-lived "sl." tokens): it trades refreshToken for access
// tokens at tokenURL, caching each until shortly before it expires. A refresh
// token the server rotates is kept in memory for the next refresh; it is not
// persisted. ctx is used as in ClientCredentials.
func RefreshToken(ctx context.Context, tokenURL, clientID, clientSecret, refreshToken string) *ResettableTokenSource {
	cfg := &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL},
	}
	hc := tokenHTTPClient(ctx)
	current := refreshToken // only touched by fetch, which the source serialises
	return newResettable(func(ctx context.Context) (*oauth2.Token, error) {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
		tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: current}).Token()
		if err != nil {
			return nil, fmt.Errorf("httpx: refresh token at %s: %w", redactRawURL(tokenURL), err)
		}
		if tok.RefreshToken != "" {
			current = tok.RefreshToken
		}
		return tok, nil
	})
}

// tokenHTTPClient is the client for token calls: the one ctx carries, or a
// plain one; either way with an overall timeout as a backstop.
func tokenHTTPClient(ctx context.Context) *http.Client {
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		return &http.Client{Timeout: DefaultTimeout}
	}
	if hc.Timeout == 0 {
		c := *hc
		c.Timeout = DefaultTimeout
		return &c
	}
	return hc
}
