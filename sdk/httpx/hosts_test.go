package httpx

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestHostPolicy(t *testing.T) {
	base, _ := url.Parse("https://contoso.crm.dynamics.com/api/data/v9.2")
	p := newHostPolicy(base, []string{"login.microsoftonline.com", "*.sharepoint.com", "files.example.com:8443", "[::1]"})
	tests := []struct {
		url  string
		want bool
	}{
		{"https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x", true},
		{"https://CONTOSO.crm.dynamics.com:443/api", true},
		{"http://contoso.crm.dynamics.com/api", false}, // downgrade: the token would travel in clear
		{"https://contoso.crm.dynamics.com:8443/api", false},
		{"https://evil.example.net/api/data/v9.2/accounts", false},
		{"https://contoso.crm.dynamics.com.evil.net/", false},
		{"https://login.microsoftonline.com/tenant/oauth2/v2.0/token", true},
		{"https://login.microsoftonline.com:444/x", true}, // a bare host entry matches any port
		{"https://tenant.sharepoint.com/sites/a", true},
		{"https://sharepoint.com/", false}, // "*." is subdomains only
		{"https://evilsharepoint.com/", false},
		{"https://files.example.com:8443/f", true},
		{"https://files.example.com/f", false},
		{"https://[::1]:9000/f", true},
		{"/relative", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.trusted(u); got != tt.want {
			t.Errorf("trusted(%s) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

func TestForeignHosts(t *testing.T) {
	t.Run("absolute_url_on_another_host_is_refused_before_sending", func(t *testing.T) {
		b := newBackend(t)
		foreign := newBackend(t)
		tokens := newTokenServer(t, 3600, false)
		c, _ := newTestClient(t, b, func(o *Options) { o.TokenSource = tokens.source(t) })
		next := foreign.URL + "/api/data/v9.2/accounts?$skiptoken=2"
		checks := map[string]error{}
		_, checks["resty"] = c.R(testContext(t)).Get(next)
		checks["GetJSON"] = c.GetJSON(testContext(t), next, &struct{}{})
		_, checks["Stream"] = c.Stream(testContext(t), http.MethodGet, next, nil)
		for name, err := range checks {
			if !errors.Is(err, ErrHostNotAllowed) {
				t.Errorf("%s: err = %v, want ErrHostNotAllowed", name, err)
			} else if !strings.Contains(err.Error(), "AllowedHosts") {
				t.Errorf("%s: error should say how to allow the host: %v", name, err)
			}
		}
		if foreign.attempts() != 0 || tokens.calls.Load() != 0 {
			t.Errorf("foreign host saw %d requests, token endpoint %d calls; want none", foreign.attempts(), tokens.calls.Load())
		}
	})
	t.Run("allowed_host_is_called_with_the_token", func(t *testing.T) {
		b := newBackend(t)
		other := newBackend(t)
		tokens := newTokenServer(t, 3600, false)
		host := strings.TrimPrefix(other.URL, "http://")
		c, _ := newTestClient(t, b, func(o *Options) { o.TokenSource = tokens.source(t); o.AllowedHosts = []string{host} })
		if err := c.GetJSON(testContext(t), other.URL+"/x", &struct{}{}); err != nil {
			t.Fatal(err)
		}
		if other.auth[0] != "Bearer tok-1" {
			t.Errorf("Authorization = %q, want the bearer token", other.auth[0])
		}
	})
	t.Run("redirect_to_another_host_is_followed_without_the_token", func(t *testing.T) {
		cdn := newBackend(t, step{status: 200, body: "file bytes"})
		b := newBackend(t)
		b.handle = func(n int, w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, cdn.URL+"/blob?sig=abc", http.StatusFound)
			return true
		}
		tokens := newTokenServer(t, 3600, false)
		c, _ := newTestClient(t, b, func(o *Options) { o.TokenSource = tokens.source(t) })
		resp, err := c.Stream(testContext(t), http.MethodGet, "/drive/items/1/content", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if b.auth[0] != "Bearer tok-1" || cdn.auth[0] != "" {
			t.Errorf("Authorization: API %q, CDN %q; want the token on the API only", b.auth[0], cdn.auth[0])
		}
	})
}
