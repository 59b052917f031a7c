package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const testSecret = "cl1ent-s3cret"

// tokenServer is an OAuth2 token endpoint issuing "tok-1", "tok-2", ...
type tokenServer struct {
	*httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	forms []url.Values
}

func newTokenServer(t *testing.T, expiresIn int, rotate bool) *tokenServer {
	t.Helper()
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.calls.Add(1)
		_ = r.ParseForm()
		form := r.PostForm
		if id, secret, ok := r.BasicAuth(); ok {
			form.Set("client_id", id)
			form.Set("client_secret", secret)
		}
		ts.mu.Lock()
		ts.forms = append(ts.forms, form)
		ts.mu.Unlock()
		if form.Get("client_secret") != testSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		resp := map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": expiresIn}
		if rotate {
			resp["refresh_token"] = fmt.Sprintf("rt-%d", n+1)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) form(i int) url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[i]
}

func (ts *tokenServer) source(t *testing.T) *ResettableTokenSource {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ts.Client())
	return ClientCredentials(ctx, ts.URL+"/token", "app-id", testSecret, []string{"https://org.crm.dynamics.com/.default"}, url.Values{"resource": {"x"}})
}

func TestToken_401_refreshes_once_and_retries(t *testing.T) {
	tests := []struct {
		name       string
		accept     string // the token the API accepts, "" none
		method     string
		wantTokens int32
		wantHits   int
		wantErr    bool
	}{
		{name: "stale_token_is_replaced_and_the_request_succeeds", accept: "Bearer tok-2", method: "GET", wantTokens: 2, wantHits: 2},
		{name: "post_is_retried_after_401_too", accept: "Bearer tok-2", method: "POST", wantTokens: 2, wantHits: 2},
		{name: "second_401_is_returned", accept: "", method: "GET", wantTokens: 2, wantHits: 2, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := newTokenServer(t, 3600, false)
			b := newBackend(t)
			b.handle = func(n int, w http.ResponseWriter, r *http.Request) bool {
				if r.Header.Get("Authorization") != tt.accept {
					w.WriteHeader(http.StatusUnauthorized)
					_, _ = fmt.Fprintf(w, "invalid token %s", r.Header.Get("Authorization"))
					return true
				}
				return false
			}
			c, _ := newTestClient(t, b, func(o *Options) { o.TokenSource = tokens.source(t) })
			_, err := c.R(testContext(t)).SetBody(`{}`).Execute(tt.method, "/x")
			if got := tokens.calls.Load(); got != tt.wantTokens {
				t.Errorf("token endpoint called %d times, want %d", got, tt.wantTokens)
			}
			if b.attempts() != tt.wantHits {
				t.Errorf("API saw %d attempts, want %d", b.attempts(), tt.wantHits)
			}
			if tt.wantErr {
				wantStatus(401)(t, err)
				if strings.Contains(err.Error(), "tok-") {
					t.Errorf("error leaks the token: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestToken_is_cached_and_sent_only_to_trusted_hosts(t *testing.T) {
	tokens := newTokenServer(t, 3600, false)
	b := newBackend(t)
	c, _ := newTestClient(t, b, func(o *Options) { o.TokenSource = tokens.source(t) })
	for range 3 {
		if _, err := c.R(testContext(t)).Get("/x"); err != nil {
			t.Fatal(err)
		}
	}
	if got := tokens.calls.Load(); got != 1 {
		t.Errorf("token endpoint called %d times, want 1 (cached)", got)
	}
	if b.auth[2] != "Bearer tok-1" {
		t.Errorf("Authorization = %q", b.auth[2])
	}
	f := tokens.form(0)
	if f.Get("grant_type") != "client_credentials" || f.Get("scope") != "https://org.crm.dynamics.com/.default" || f.Get("resource") != "x" {
		t.Errorf("token request form = %v", f)
	}
}

func TestToken_refreshed_ahead_of_expiry(t *testing.T) {
	tokens := newTokenServer(t, 3600, false)
	ts := tokens.source(t)
	now := time.Now()
	ts.now = func() time.Time { return now }
	get := func() string {
		tok, err := ts.TokenContext(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	if got := get(); got != "tok-1" {
		t.Fatalf("first token %q", got)
	}
	now = now.Add(58 * time.Minute)
	if got := get(); got != "tok-1" {
		t.Errorf("2 minutes before expiry got %q, want the cached tok-1", got)
	}
	now = now.Add(90 * time.Second)
	if got := get(); got != "tok-2" {
		t.Errorf("30s before expiry got %q, want a fresh tok-2", got)
	}
	ts.Reset()
	if got := get(); got != "tok-3" {
		t.Errorf("after Reset got %q, want tok-3", got)
	}
}

func TestToken_refresh_token_flow_keeps_the_rotated_refresh_token(t *testing.T) {
	tokens := newTokenServer(t, 14400, true)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tokens.Client())
	ts := RefreshToken(ctx, tokens.URL+"/oauth2/token", "app-key", testSecret, "rt-1")
	for i := range 2 {
		if _, err := ts.TokenContext(testContext(t)); err != nil {
			t.Fatal(err)
		}
		ts.Reset()
		f := tokens.form(i)
		if f.Get("grant_type") != "refresh_token" || f.Get("refresh_token") != fmt.Sprintf("rt-%d", i+1) {
			t.Errorf("refresh %d form = %v", i, f)
		}
	}
}

func TestToken_never_in_errors(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "server_echoes_the_authorization_header_in_a_500"},
		{name: "token_endpoint_refuses_the_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := newTokenServer(t, 3600, false)
			src := tokens.source(t)
			if strings.HasPrefix(tt.name, "token_endpoint") {
				ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tokens.Client())
				src = ClientCredentials(ctx, tokens.URL+"/token", "app-id", "wrong-"+testSecret, nil, nil)
			}
			b := newBackend(t)
			b.handle = func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = fmt.Fprintf(w, "debug: you sent %q", r.Header.Get("Authorization"))
				return true
			}
			c, _ := newTestClient(t, b, func(o *Options) { o.TokenSource = src; o.MaxRetries = 1 })
			for _, call := range []func() error{
				func() error { _, err := c.R(testContext(t)).Get("/x"); return err },
				func() error { return c.GetJSON(testContext(t), "/x", &struct{}{}) },
				func() error { _, err := c.Stream(testContext(t), "GET", "/x", nil); return err },
			} {
				err := call()
				if err == nil {
					t.Fatal("want an error")
				}
				msg := fmt.Sprintf("%v %+v", err, err)
				for _, secret := range []string{"tok-1", "tok-2", testSecret} {
					if strings.Contains(msg, secret) {
						t.Errorf("error leaks %q: %s", secret, msg)
					}
				}
				var se *StatusError
				if errors.As(err, &se) && strings.Contains(string(se.Body), "tok-") {
					t.Errorf("StatusError.Body leaks the token: %s", se.Body)
				}
			}
		})
	}
}
