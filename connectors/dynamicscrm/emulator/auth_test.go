package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := start(t, Options{Seed: 3, Now: clock.Now, TokenTTL: time.Hour})

	t.Run("client credentials return a bearer token", func(t *testing.T) {
		c := c.with(t)
		r := c.postForm(c.srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"synchub-dev"},
			"client_secret": {"synchub-dev"}, "scope": {c.base + "/.default"}})
		c.mustStatus(r, http.StatusOK)
		m := r.json(t)
		if m["token_type"] != "Bearer" || m["expires_in"] != float64(3599) || m["ext_expires_in"] != float64(3599) || m["access_token"] == "" {
			t.Errorf("token response %v", m)
		}
	})

	failures := []struct {
		name   string
		form   url.Values
		status int
		err    string
		code   float64
	}{
		{"a wrong secret is invalid_client AADSTS7000215",
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"synchub-dev"}, "client_secret": {"nope"}, "scope": {"{base}/.default"}},
			http.StatusUnauthorized, "invalid_client", 7000215},
		{"an unknown client is unauthorized_client AADSTS700016",
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {"synchub-dev"}, "scope": {"{base}/.default"}},
			http.StatusBadRequest, "unauthorized_client", 700016},
		{"a scope without /.default is invalid_scope AADSTS1002012",
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"synchub-dev"}, "client_secret": {"synchub-dev"}, "scope": {"{base}/user_impersonation"}},
			http.StatusBadRequest, "invalid_scope", 1002012},
		{"a scope for another resource is invalid_resource AADSTS500011",
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"synchub-dev"}, "client_secret": {"synchub-dev"}, "scope": {"https://other.crm.dynamics.com/.default"}},
			http.StatusBadRequest, "invalid_resource", 500011},
		{"another grant type is unsupported_grant_type",
			url.Values{"grant_type": {"password"}, "client_id": {"synchub-dev"}, "client_secret": {"synchub-dev"}, "scope": {"{base}/.default"}},
			http.StatusBadRequest, "unsupported_grant_type", 70003},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			c := c.with(t)
			form := url.Values{}
			for k, v := range tc.form {
				form.Set(k, strings.ReplaceAll(v[0], "{base}", c.base))
			}
			r := c.postForm(c.srv.TokenURL(), form)
			c.mustStatus(r, tc.status)
			m := r.json(t)
			codes, _ := m["error_codes"].([]any)
			desc, _ := m["error_description"].(string)
			if m["error"] != tc.err || len(codes) != 1 || codes[0] != tc.code || !strings.HasPrefix(desc, "AADSTS") ||
				m["trace_id"] == nil || m["correlation_id"] == nil || m["timestamp"] == nil {
				t.Errorf("error body %v", m)
			}
		})
	}

	t.Run("an unknown tenant is AADSTS90002", func(t *testing.T) {
		c := c.with(t)
		r := c.postForm(c.base+"/other-tenant/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}})
		c.mustStatus(r, http.StatusBadRequest)
		if m := r.json(t); m["error"] != "invalid_request" {
			t.Errorf("body %v", m)
		}
	})

	t.Run("API calls without a bearer token get 401 with a Dataverse error", func(t *testing.T) {
		c := c.with(t)
		anon := *c
		anon.token = ""
		r := anon.do("GET", "accounts", nil)
		c.mustStatus(r, http.StatusUnauthorized)
		if code, _ := r.errorOf(t); code == "" || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without code or WWW-Authenticate: %s %v", r.body, r.header)
		}
		anon.token = "forged"
		c.mustStatus(anon.do("GET", "WhoAmI", nil), http.StatusUnauthorized)
	})

	t.Run("WhoAmI names the application user", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "WhoAmI", nil)
		c.mustStatus(r, http.StatusOK)
		m := r.json(t)
		if !strings.HasSuffix(m["@odata.context"].(string), "/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse") {
			t.Errorf("context %v", m["@odata.context"])
		}
		who := c.srv.WhoAmI()
		if m["UserId"] != who.UserID || m["BusinessUnitId"] != who.BusinessUnitID || m["OrganizationId"] != who.OrganizationID {
			t.Errorf("WhoAmI %v vs %+v", m, who)
		}
		if _, ok := c.srv.Get("systemusers", who.UserID); !ok {
			t.Error("the application user is not a systemuser")
		}
		users := c.srv.Users()
		if len(users) != 5 || users[4].SystemUserID != who.UserID {
			t.Errorf("users %v", users)
		}
	})

	t.Run("an expired token is refused", func(t *testing.T) {
		c := c.with(t)
		clock.Add(61 * time.Minute)
		c.mustStatus(c.do("GET", "WhoAmI", nil), http.StatusUnauthorized)
		c.token = c.fetchToken("synchub-dev", "synchub-dev")
		c.mustStatus(c.do("GET", "WhoAmI", nil), http.StatusOK)
	})
}
