package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

// loginConfig has a memconn source whose accounts are partitioned by owner
// and whose users everyone sees, and users whose identities on it are given
// by login (alice: a known one, with a config attribute; bob: an unknown
// one) or by id (carol).
const loginConfig = `
hub { plugin_dir = %q }
source "mem" {
  plugin   = "memconn"
  interval = "0"
  entity "account" { partition_by = "owner:owner" }
  entity "user"    { partition_by = "*" }
}
user "alice" {
  password = "alice-pw"
  identity "mem" {
    login      = "USER2@example.com"
    attributes = { region = "north" }
  }
}
user "bob" {
  password = "bob-pw"
  identity "mem" { login = "nobody@example.com" }
}
user "carol" {
  password = "carol-pw"
  role     = "admin"
  identity "mem" { id = "u3" }
}
`

// client is a device of one user talking to the hub's API.
type client struct {
	t     *testing.T
	url   string
	token string
}

func signIn(t *testing.T, url, user, password string) *client {
	t.Helper()
	c := &client{t: t, url: url}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.call("POST", "/v1/auth/token", map[string]string{"username": user, "password": password, "device_id": user + "-tablet"}, &tok)
	c.token = tok.AccessToken
	return c
}

func (c *client) call(method, path string, body, out any) {
	c.t.Helper()
	var rd *bytes.Reader
	if body == nil {
		rd = bytes.NewReader(nil)
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		c.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b.String())
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
}

type meIdentity struct {
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes"`
}

func (c *client) identity(source string) (meIdentity, bool) {
	c.t.Helper()
	var me struct {
		Identities map[string]meIdentity `json:"identities"`
	}
	c.call("GET", "/v1/me", nil, &me)
	id, ok := me.Identities[source]
	return id, ok
}

// records lists what a full download of the source gives, as
// "entity/id", sorted.
func (c *client) records(source string) []string {
	c.t.Helper()
	var out []string
	checkpoint := ""
	for {
		var resp struct {
			Ops []struct {
				Entity, ID, Op string
			} `json:"ops"`
			Checkpoint string `json:"checkpoint"`
			HasMore    bool   `json:"has_more"`
		}
		c.call("GET", "/v1/sources/"+source+"/changes?limit=500&checkpoint="+checkpoint, nil, &resp)
		for _, op := range resp.Ops {
			if op.Op == "put" {
				out = append(out, op.Entity+"/"+op.ID)
			}
		}
		if !resp.HasMore {
			break
		}
		checkpoint = resp.Checkpoint
	}
	slices.Sort(out)
	return out
}

type identityError struct {
	User, Login, Error string
}

func (c *client) identityErrors(source string) []identityError {
	c.t.Helper()
	var resp struct {
		Sources []struct {
			Name   string `json:"name"`
			Plugin struct {
				IdentityErrors []identityError `json:"identity_errors"`
			} `json:"plugin"`
		} `json:"sources"`
	}
	c.call("GET", "/v1/admin/sources", nil, &resp)
	for _, s := range resp.Sources {
		if s.Name == source {
			return s.Plugin.IdentityErrors
		}
	}
	c.t.Fatalf("the admin status lists no source %s", source)
	return nil
}

func TestAUsersLoginIsResolvedByTheConnector(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		mem := memconn.New()
		// The back end knows more of u2 than its name: its other fields are
		// attributes, under the config's.
		mem.Put("user", map[string]any{"id": "u2", "region": "south", "business_unit": "bu-2"})
		cfg := loadConfig(t, fmt.Sprintf(loginConfig, pluginDir))
		h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st, Clients: map[string]sdk.Client{"mem": sdk.InProcess(mem, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if err := h.Puller().PullSource(ctx, "mem", nil, false); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h.Handler())
		defer srv.Close()
		alice, bob, carol := signIn(t, srv.URL, "alice", "alice-pw"), signIn(t, srv.URL, "bob", "bob-pw"), signIn(t, srv.URL, "carol", "carol-pw")
		users := []string{"user/u1", "user/u2", "user/u3"}

		t.Run("a_known_login_gives_the_back_ends_id_and_attributes_under_the_configs", func(t *testing.T) {
			id, ok := alice.identity("mem")
			want := meIdentity{ID: "u2", Attributes: map[string]string{"region": "north", "business_unit": "bu-2"}}
			if !ok || id.ID != want.ID || fmt.Sprint(id.Attributes) != fmt.Sprint(want.Attributes) {
				t.Errorf("alice's identity on mem is %+v (present: %v), want %+v", id, ok, want)
			}
		})
		t.Run("a_resolved_user_sees_exactly_the_records_the_resolved_id_owns", func(t *testing.T) {
			want := append([]string{"account/acc-0001", "account/acc-0004", "account/acc-0007", "account/acc-0010"}, users...)
			if got := alice.records("mem"); !slices.Equal(got, want) {
				t.Errorf("alice downloads %v, want %v", got, want)
			}
		})
		t.Run("an_unknown_login_leaves_the_user_with_the_shared_records_only", func(t *testing.T) {
			if id, ok := bob.identity("mem"); ok {
				t.Errorf("bob has identity %+v on mem, want none", id)
			}
			if got := bob.records("mem"); !slices.Equal(got, users) {
				t.Errorf("bob downloads %v, want only the shared %v", got, users)
			}
		})
		t.Run("an_unknown_login_is_shown_in_the_admin_status", func(t *testing.T) {
			errs := carol.identityErrors("mem")
			if len(errs) != 1 || errs[0].User != "bob" || errs[0].Login != "nobody@example.com" || !strings.Contains(errs[0].Error, "nobody@example.com") {
				t.Errorf("identity errors %+v, want one for bob's login nobody@example.com naming it", errs)
			}
		})
		t.Run("an_identity_by_id_is_kept_as_configured", func(t *testing.T) {
			if id, ok := carol.identity("mem"); !ok || id.ID != "u3" {
				t.Errorf("carol's identity on mem is %+v (present: %v), want u3", id, ok)
			}
		})
		t.Run("a_restart_resolves_the_logins_again", func(t *testing.T) {
			mem.Put("user", map[string]any{"id": "u9", "name": "Nobody", "email": "nobody@example.com"})
			mem.Put("user", map[string]any{"id": "u2", "email": "someone.else@example.com"})
			var state struct {
				IdentityErrors []identityError `json:"identity_errors"`
			}
			carol.call("POST", "/v1/admin/sources/mem/restart", nil, &state)
			if len(state.IdentityErrors) != 1 || state.IdentityErrors[0].User != "alice" {
				t.Errorf("after the restart the identity errors are %+v, want alice's login that no user has any more", state.IdentityErrors)
			}
			if id, ok := bob.identity("mem"); !ok || id.ID != "u9" {
				t.Errorf("after the restart bob's identity on mem is %+v (present: %v), want u9", id, ok)
			}
			if _, ok := alice.identity("mem"); ok {
				t.Error("after the restart alice keeps an identity her login no longer gives")
			}
			if id, ok := carol.identity("mem"); !ok || id.ID != "u3" {
				t.Errorf("after the restart carol's identity on mem is %+v (present: %v), want u3 still", id, ok)
			}
		})
	})
}

func TestALoginTheBackEndCannotBeAskedAboutDoesNotStopTheHub(t *testing.T) {
	st := storetest.SQLite(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mem := memconn.New()
	cfg := loadConfig(t, strings.Replace(fmt.Sprintf(loginConfig, pluginDir), `plugin   = "memconn"`,
		`plugin = "memconn"
  config = { fail = [{ call = "resolve_user", kind = "error" }] }`, 1))
	h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st, Clients: map[string]sdk.Client{"mem": sdk.InProcess(mem, nil)}})
	if err != nil {
		t.Fatalf("Open failed on logins the back end could not be asked about: %v", err)
	}
	defer h.Close()
	src, _ := h.Sources().Get("mem")
	errs := src.IdentityErrors()
	if len(errs) != 2 || sdk.CodeOf(errs[0].Err) != sdk.CodeUnavailable {
		t.Errorf("identity errors %+v, want alice's and bob's, unavailable", errs)
	}
	user, err := st.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := st.Identity(ctx, user.ID, "mem"); ok {
		t.Errorf("alice has identity %+v on mem in the store, want none", id)
	}
}

// withoutResolver is memconn without sdk.UserResolver.
type withoutResolver struct {
	sdk.Connector
	sdk.Fetcher
}

func TestALoginOnAConnectorThatCannotResolveUsersIsRefused(t *testing.T) {
	const src = `
hub { plugin_dir = %q }
source "mem" {
  plugin = %q
  config = %s
  entity %q { partition_by = "*" }
}
user "alice" {
  password = "x"
  identity "mem" {
    login = "user1@example.com"
  }
}
`
	tests := []struct {
		name, plugin, config, entity string
		clients                      func() map[string]sdk.Client
	}{
		{"in_process", "memconn", "{}", "account", func() map[string]sdk.Client {
			m := memconn.New()
			return map[string]sdk.Client{"mem": sdk.InProcess(withoutResolver{m, m}, nil)}
		}},
		{"a_plugin_process", "chaos", `{ mode = "ok", pages = 1, page_records = 1 }`, "items", func() map[string]sdk.Client { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cfg := loadConfig(t, fmt.Sprintf(src, pluginDir, tt.plugin, tt.config, tt.entity))
			_, err := hub.StartSources(ctx, cfg, hub.SourceOptions{Clients: tt.clients()})
			if err == nil {
				t.Fatal("the sources started with a login the connector cannot resolve")
			}
			t.Log(err)
			for _, want := range []string{"hub.hcl:11", `Source "mem"`, `user "alice"`, fmt.Sprintf("plugin %q", tt.plugin), "resolve_user"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestALoginIsResolvedOverThePluginProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := loadConfig(t, fmt.Sprintf(loginConfig, pluginDir))
	srcs, err := hub.StartSources(ctx, cfg, hub.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srcs.Stop()
	src, _ := srcs.Get("mem")
	if id, ok := src.Resolved("alice"); !ok || id.ID != "u2" {
		t.Errorf("alice's login resolved to %+v (ok: %v), want u2", id, ok)
	}
	if errs := src.IdentityErrors(); len(errs) != 1 || errs[0].User != "bob" || sdk.CodeOf(errs[0].Err) != sdk.CodeNotFound {
		t.Errorf("identity errors %+v, want bob's login, not found", errs)
	}
}

// TestALoginKeepsItsIdentityWhileTheBackEndCannotBeAsked: a hub restarted
// while the back end cannot be asked about logins keeps what each login
// last resolved to (and only while the config names the same login), and
// asks again in the background until it resolves.
func TestALoginKeepsItsIdentityWhileTheBackEndCannotBeAsked(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		identity := func(user string) (string, bool) {
			t.Helper()
			u, err := st.UserByName(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			id, ok, err := st.Identity(ctx, u.ID, "mem")
			if err != nil {
				t.Fatal(err)
			}
			return id.BackendID, ok
		}
		mem := memconn.New()
		cfg := loadConfig(t, fmt.Sprintf(loginConfig, pluginDir))
		h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st, Clients: map[string]sdk.Client{"mem": sdk.InProcess(mem, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		if id, ok := identity("alice"); !ok || id != "u2" {
			t.Fatalf("alice's identity is %q (present %v), want u2", id, ok)
		}

		// The hub restarts while the back end is down.
		down := strings.Replace(fmt.Sprintf(loginConfig, pluginDir), `plugin   = "memconn"`,
			`plugin = "memconn"
  config = { fail = [{ call = "resolve_user", kind = "error" }] }`, 1)
		h, err = hub.Open(ctx, hub.Options{Config: loadConfig(t, down), Store: st, LoginRetry: 20 * time.Millisecond,
			Clients: map[string]sdk.Client{"mem": sdk.InProcess(mem, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		src, _ := h.Sources().Get("mem")
		if errs := src.IdentityErrors(); len(errs) != 2 || !errs[0].Transient {
			t.Errorf("identity errors %+v, want alice's and bob's, transient", errs)
		}
		if id, ok := identity("alice"); !ok || id != "u2" {
			t.Errorf("while the back end is down alice's identity is %q (present %v), want u2 still", id, ok)
		}
		if id, ok := identity("bob"); ok {
			t.Errorf("bob, whose login never resolved, has identity %q", id)
		}

		// The back end comes back, and alice's login now names another user:
		// the hub finds out by itself.
		mem.Put("user", map[string]any{"id": "u2", "email": "someone.else@example.com"})
		mem.Put("user", map[string]any{"id": "u5", "email": "user2@example.com"})
		mem.SetFault()
		if err := h.Start(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if id, _ := identity("alice"); id == "u5" {
				break
			}
			if time.Now().After(deadline) {
				id, ok := identity("alice")
				t.Fatalf("alice's identity is %q (present %v) after the back end came back, want u5", id, ok)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if errs := src.IdentityErrors(); len(errs) != 1 || errs[0].User != "bob" || errs[0].Transient {
			t.Errorf("identity errors %+v, want only bob's unknown login", errs)
		}
		if err := h.Puller().Stop(ctx); err != nil {
			t.Fatal(err)
		}
		h.Close()

		// A login the config changed does not inherit the old login's
		// identity while the back end is down.
		changed := strings.Replace(down, `login      = "USER2@example.com"`, `login      = "other@example.com"`, 1)
		h, err = hub.Open(ctx, hub.Options{Config: loadConfig(t, changed), Store: st, Clients: map[string]sdk.Client{"mem": sdk.InProcess(mem, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if id, ok := identity("alice"); ok {
			t.Errorf("alice's changed login kept the old login's identity %q", id)
		}
	})
}

// TestValidateTellsUnknownLoginsFromUnreachableOnes: CheckLogins (what
// `synchub validate` prints) makes an unknown login an error at its place
// in the config, and a login the back end could not be asked about a
// warning.
func TestValidateTellsUnknownLoginsFromUnreachableOnes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := loadConfig(t, fmt.Sprintf(loginConfig, pluginDir))
	srcs, err := hub.StartSources(ctx, cfg, hub.SourceOptions{Clients: map[string]sdk.Client{"mem": sdk.InProcess(memconn.New(), nil)}})
	if err != nil {
		t.Fatal(err)
	}
	defer srcs.Stop()
	warnings, err := srcs.CheckLogins(cfg)
	if len(warnings) != 0 {
		t.Errorf("warnings %v, want none", warnings)
	}
	if err == nil || !strings.Contains(err.Error(), `user "bob"`) || !strings.Contains(err.Error(), "nobody@example.com") ||
		!strings.Contains(err.Error(), "hub.hcl:18,") {
		t.Errorf("CheckLogins = %v, want an error for bob's unknown login at hub.hcl:18", err)
	}

	down := loadConfig(t, strings.Replace(fmt.Sprintf(loginConfig, pluginDir), `plugin   = "memconn"`,
		`plugin = "memconn"
  config = { fail = [{ call = "resolve_user", kind = "error" }] }`, 1))
	srcs2, err := hub.StartSources(ctx, down, hub.SourceOptions{Clients: map[string]sdk.Client{"mem": sdk.InProcess(memconn.New(), nil)}})
	if err != nil {
		t.Fatal(err)
	}
	defer srcs2.Stop()
	warnings, err = srcs2.CheckLogins(down)
	if err != nil || len(warnings) != 2 || !strings.Contains(warnings[0], "could not be asked") {
		t.Errorf("CheckLogins with the back end down = %v, %v; want two warnings and no error", warnings, err)
	}
}
