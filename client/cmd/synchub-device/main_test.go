package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/client/internal/fakehub"
)

type cli struct {
	t   *testing.T
	db  string
	hub *fakehub.Hub
}

func newCLI(t *testing.T) *cli {
	hub := fakehub.New(t)
	hub.AddUser("alice", "secret")
	hub.SetSchema("crm",
		fakehub.Entity{Name: "account", Key: "accountid", Hash: "h1", Fields: []fakehub.Field{
			{Name: "name", Type: "string"}, {Name: "revenue", Type: "decimal"}, {Name: "employees", Type: "int"},
			{Name: "active", Type: "bool"}, {Name: "founded", Type: "datetime"},
		}},
		fakehub.Entity{Name: "contact", Key: "contactid", Hash: "h2", Fields: []fakehub.Field{
			{Name: "fullname", Type: "string"}, {Name: "parentcustomerid", Type: "lookup", Lookup: "account"},
		}},
	)
	hub.Put("crm", "account", "a1", "", map[string]any{"name": "Contoso", "revenue": 1500})
	hub.Put("crm", "account", "a2", "", map[string]any{"name": "Fabrikam", "revenue": 90})
	return &cli{t: t, db: filepath.Join(t.TempDir(), "device.db"), hub: hub}
}

// run runs one command line; stdin feeds --password-stdin.
func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	env := func(k string) string {
		if k == "SYNCHUB_DEVICE_DB" {
			return c.db
		}
		return ""
	}
	code = run(ctx, args, streams{in: strings.NewReader(stdin), out: &out, err: &errb}, env)
	return code, out.String(), errb.String()
}

func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(stdin, args...)
	require.Equal(c.t, 0, code, "synchub-device %v: %s", args, errs)
	return out
}

func (c *cli) login() {
	c.t.Helper()
	c.ok("secret\n", "login", "--password-stdin", c.hub.URL, "alice")
}

func TestCLI(t *testing.T) {
	t.Run("the_tour_works_end_to_end", func(t *testing.T) {
		c := newCLI(t)
		out := c.ok("secret\n", "login", "--password-stdin", c.hub.URL, "alice")
		assert.Contains(t, out, "logged in as alice")

		out = c.ok("", "sync")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		for _, l := range lines {
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &ev), "NDJSON off a terminal: %q", l)
		}
		assert.Contains(t, lines[len(lines)-1], `"phase":"sync","step":"end"`)

		out = c.ok("", "ls", "account", "--filter", "revenue gt 1000")
		assert.Contains(t, out, "a1")
		assert.NotContains(t, out, "a2")
		assert.Contains(t, out, "1 account record(s)")

		id := strings.TrimSpace(c.ok("", "create", "account", "name=New Co", "revenue=12.5", "active=true"))
		require.Len(t, id, 36)
		out = c.ok("", "show", "account", id)
		assert.Contains(t, out, "New Co")
		assert.Contains(t, out, "pending")
		c.ok("", "update", "account", "a1", "employees=12")
		out = c.ok("", "pending")
		assert.Contains(t, out, "create")
		assert.Contains(t, out, "update")

		c.ok("", "sync")
		fields, _, ok := c.hub.Record("crm", "account", id)
		require.True(t, ok)
		assert.Equal(t, "New Co", fields["name"])
		out = c.ok("", "status")
		assert.Contains(t, out, "pending:   0 change(s)")
		assert.Contains(t, out, "account")
		assert.Contains(t, c.ok("", "errors"), "no sync errors")
		c.ok("", "delete", "account", "a2")
		c.ok("", "sync")
		want := []string{"a1", id}
		slices.Sort(want)
		assert.Equal(t, want, c.hub.Records("crm", "account"))
	})

	t.Run("files_are_listed_and_fetched", func(t *testing.T) {
		c := newCLI(t)
		c.hub.PutFile("crm", "f1", "account/*", map[string]any{"name": "report.txt", "mode": "on_demand",
			"record": map[string]any{"entity": "account", "id": "a1"}}, []byte("quarterly numbers"))
		c.login()
		c.ok("", "sync")
		out := c.ok("", "files", "account", "a1")
		assert.Contains(t, out, "report.txt")
		assert.Contains(t, out, "remote")
		dst := filepath.Join(t.TempDir(), "r.txt")
		c.ok("", "get-file", "f1", "-o", dst)
		b, err := os.ReadFile(dst)
		require.NoError(t, err)
		assert.Equal(t, "quarterly numbers", string(b))
		assert.Equal(t, "quarterly numbers", c.ok("", "get-file", "f1", "-o", "-"))
	})

	errorsTests := []struct {
		name  string
		setup func(c *cli)
		args  []string
		stdin string
		want  string
	}{
		{name: "sync_before_login_says_how_to_log_in", args: []string{"sync"},
			want: "synchub-device: not logged in; run: synchub-device login URL USER"},
		{name: "a_wrong_password_is_refused", args: []string{"login", "--password-stdin", "", "alice"}, stdin: "nope\n",
			want: "synchub-device: login refused: wrong user name or password"},
		{name: "a_bad_hub_url_is_explained", args: []string{"login", "--password-stdin", "hub.example.com", "alice"}, stdin: "x\n",
			want: `synchub-device: hub URL "hub.example.com" must look like http://host:port or https://host`},
		{name: "a_prompt_needs_a_terminal", args: []string{"login", "http://127.0.0.1:1", "alice"},
			want: "synchub-device: no terminal to ask for the password; pipe it in with --password-stdin"},
		{name: "an_unknown_entity_lists_the_entities", setup: synced, args: []string{"ls", "acount"},
			want: "synchub-device: unknown entity 'acount'; entities: account, contact"},
		{name: "a_bad_decimal_names_the_field_and_type", setup: synced, args: []string{"create", "account", "revenue=12x"},
			want: "synchub-device: field 'revenue' is decimal; '12x' is not a number"},
		{name: "a_bad_int_names_the_field_and_type", setup: synced, args: []string{"update", "account", "a1", "employees=many"},
			want: "synchub-device: field 'employees' is int; 'many' is not a whole number"},
		{name: "an_unknown_field_lists_the_fields", setup: synced, args: []string{"update", "account", "a1", "revnue=1"},
			want: "synchub-device: unknown field 'revnue' of account; fields: name, revenue, employees, active, founded"},
		{name: "ls_before_any_sync_says_to_sync", setup: func(c *cli) { c.login() }, args: []string{"ls", "account"},
			want: "synchub-device: no data yet; run: synchub-device sync"},
		{name: "an_unreachable_hub_is_explained", setup: func(c *cli) { c.login(); c.hub.Close() }, args: []string{"sync"},
			want: "synchub-device: hub unreachable at "},
		{name: "a_bad_resolution_is_refused", setup: synced, args: []string{"resolve", "e1", "mine"},
			want: "synchub-device: resolution 'mine': want keep-mine or take-server"},
		{name: "a_damaged_store_points_at_repair", setup: func(c *cli) {
			require.NoError(c.t, os.WriteFile(c.db, bytes.Repeat([]byte("garbage!"), 64), 0o600))
		}, args: []string{"status"}, want: "is damaged: file is not a database; run: synchub-device --repair status (pending changes are kept)"},
	}
	for _, tt := range errorsTests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			if tt.setup != nil {
				tt.setup(c)
			}
			args := tt.args
			for i, a := range args {
				if a == "" {
					args[i] = c.hub.URL
				}
			}
			code, _, errs := c.run(tt.stdin, args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, errs, tt.want)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(errs), "\n")+1, "one line: %q", errs)
		})
	}

	t.Run("an_expired_token_refreshes_silently", func(t *testing.T) {
		c := newCLI(t)
		synced(c)
		c.hub.ExpireAccessTokens()
		c.ok("", "sync")
	})

	t.Run("repair_rebuilds_a_damaged_store", func(t *testing.T) {
		c := newCLI(t)
		require.NoError(t, os.WriteFile(c.db, bytes.Repeat([]byte("garbage!"), 64), 0o600))
		_, _, errs := c.run("", "--repair", "status")
		assert.Contains(t, errs, "repaired")
		c.login()
		c.ok("", "sync")
		assert.Contains(t, c.ok("", "ls", "account"), "a1")
	})
}

func synced(c *cli) {
	c.login()
	c.ok("", "sync")
}
