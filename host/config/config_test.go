package config

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

const day = 24 * time.Hour

func TestLoad(t *testing.T) {
	t.Run("a_full_config_round_trips_every_field", func(t *testing.T) {
		key := strings.Repeat("k", 40)
		t.Setenv("FULL_CHECKPOINT_KEY", key)
		cfg, err := Load(filepath.Join("testdata", "full.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		dir, err := filepath.Abs("testdata")
		if err != nil {
			t.Fatal(err)
		}

		wantHub := Hub{
			Listen:             "0.0.0.0:9090",
			Database:           "sqlite:" + filepath.Join(dir, "db", "hub.db"),
			PluginDir:          filepath.Join(dir, "plugins"),
			DataDir:            "/var/lib/synchub",
			LogFormat:          "json",
			LogLevel:           "debug",
			AccessTokenTTL:     90 * time.Minute,
			RefreshTokenTTL:    7 * day,
			TombstoneRetention: 36 * time.Hour,
			CallTimeout:        45 * time.Second,
			MaxBodyBytes:       1 << 20,
			CheckpointKey:      key,
			PullConcurrency:    8,
			MaxRestarts:        0,
		}
		equal(t, "hub", cfg.Hub, wantHub)
		equal(t, "file", cfg.File, filepath.Join("testdata", "full.hcl"))

		equal(t, "plugins", withoutRanges(cfg.Plugins), []Plugin{
			{Name: "dynamicscrm", Path: "/opt/synchub/dynamicscrm", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
			{Name: "dropbox", Path: filepath.Join(dir, "plugins", "dropbox")},
		})

		if len(cfg.Sources) != 2 {
			t.Fatalf("sources: got %d, want 2", len(cfg.Sources))
		}
		crm, docs := cfg.Sources[0], cfg.Sources[1]
		var gotConfig, wantConfig any
		if err := json.Unmarshal(crm.Config, &gotConfig); err != nil {
			t.Fatalf("source config is not JSON: %v", err)
		}
		_ = json.Unmarshal([]byte(`{"url": "https://contoso.crm4.dynamics.com", "client_secret": "file-secret-value",
			"retries": 3, "scopes": ["a", "b"], "nested": {"on": true, "nothing": null}}`), &wantConfig)
		equal(t, "crm config", gotConfig, wantConfig)

		crm.Config, crm.Entities = nil, nil
		crm.Range = hcl.Range{}
		equal(t, "crm", crm, Source{Name: "crm", Plugin: "dynamicscrm", Interval: 0, MaxStaleness: 30 * time.Second, BatchSize: 1000})

		ents := cfg.Sources[0].Entities
		if len(ents) != 3 {
			t.Fatalf("entities: got %d, want 3", len(ents))
		}
		if r := ents[0].FilterRange; r.Filename != filepath.Join("testdata", "full.hcl") || r.Start.Line != 57 || r.Start.Column != 20 || r.End.Column != 36 {
			t.Errorf("filter range: got %s, want testdata/full.hcl:57,20-36", r)
		}
		if r := ents[1].Range; r.Start.Line != 66 {
			t.Errorf("entity range: got %s, want line 66", r)
		}
		equal(t, "entities", withoutEntityRanges(ents), []Entity{
			{
				Name:       "account",
				Fields:     []string{"name", "revenue", "description", "_ownerid_value"},
				Filter:     "statecode eq 0",
				Partition:  PartitionRule{Attr: "owner", Field: "_ownerid_value", Raw: "owner:_ownerid_value"},
				Conflict:   "merge",
				TieBreak:   "user_decides",
				FieldOwner: map[string]string{"revenue": "server", "description": "device"},
				PageSize:   5000,
			},
			{
				Name:      "contact",
				Partition: PartitionRule{Attr: "business_unit", Field: "_owningbusinessunit_value", Raw: "business_unit:_owningbusinessunit_value"},
				Parents:   []string{"account"},
				Conflict:  "device_wins_full",
				TieBreak:  "server_wins",
				PageSize:  1000,
				ReadOnly:  true,
				Files:     &FileRule{Mode: "eager", Suffixes: []string{".pdf", ".jpg"}, MaxSize: 1000, Quota: 2_000_000_000},
			},
			{
				Name:      "product",
				Partition: PartitionRule{All: true, Raw: "*"},
				Conflict:  "server_wins",
				TieBreak:  "server_wins",
				PageSize:  1000,
				Files:     &FileRule{Mode: "on_demand"},
			},
		})

		equal(t, "docs config", string(docs.Config), "{}")
		docs.Config, docs.Range = nil, hcl.Range{}
		equal(t, "docs", docs, Source{Name: "docs", Plugin: "dropbox", Interval: 5 * time.Minute, MaxStaleness: time.Minute, BatchSize: 100, AttachTo: "crm"})

		equal(t, "users", cfg.Users, []User{
			{
				Name:         "alice",
				PasswordHash: "$2a$10$GqySabaAL39fPiALCeSf0OyuwmJ/ZsWvsUhmyQMeI3tczXci2J4Yq",
				Role:         "user",
				Identities: map[string]Identity{
					"crm":  {ID: "alice-crm-id", Attributes: map[string]string{"business_unit": "bu-1", "region": "north"}},
					"docs": {ID: "alice@example.com"},
				},
			},
			{Name: "root", Password: "dev-only", Role: "admin", Identities: map[string]Identity{}},
		})
	})

	t.Run("an_empty_hub_block_gets_every_default", func(t *testing.T) {
		cfg, err := Parse([]byte("hub {}\n"), filepath.Join("conf", "hub.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "hub", cfg.Hub, Hub{
			Listen:             "127.0.0.1:8080",
			Database:           "sqlite:" + filepath.Join("conf", "data", "synchub.db"),
			PluginDir:          filepath.Join("conf", "bin", "plugins"),
			DataDir:            filepath.Join("conf", "data"),
			LogLevel:           "info",
			AccessTokenTTL:     8 * time.Hour,
			RefreshTokenTTL:    30 * day,
			TombstoneRetention: 30 * day,
			CallTimeout:        2 * time.Minute,
			MaxBodyBytes:       10 << 20,
			PullConcurrency:    4,
			MaxRestarts:        5,
		})
		if len(cfg.Plugins)+len(cfg.Sources)+len(cfg.Users) != 0 {
			t.Errorf("want no plugins, sources or users, got %+v", cfg)
		}
	})

	t.Run("a_file_without_a_hub_block_gets_the_same_defaults", func(t *testing.T) {
		a, err := Parse([]byte("hub {}"), "x.hcl")
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(nil, "x.hcl")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "hub", b.Hub, a.Hub)
	})

	t.Run("a_minimal_source_gets_source_and_entity_defaults", func(t *testing.T) {
		cfg, err := Parse([]byte(`
source "erp" {
  plugin = "dynamicsnav"
  entity "item" { partition_by = "*" }
}`), "x.hcl")
		if err != nil {
			t.Fatal(err)
		}
		s, ok := cfg.Source("erp")
		if !ok {
			t.Fatal("source erp not found")
		}
		e, ok := s.Entity("item")
		if !ok {
			t.Fatal("entity item not found")
		}
		equal(t, "source config", string(s.Config), "{}")
		equal(t, "interval", s.Interval, 5*time.Minute)
		equal(t, "max staleness", s.MaxStaleness, time.Minute)
		equal(t, "batch size", s.BatchSize, 100)
		equal(t, "entity", withoutEntityRanges([]Entity{*e}), []Entity{{
			Name: "item", Partition: PartitionRule{All: true, Raw: "*"},
			Conflict: "server_wins", TieBreak: "server_wins", PageSize: 1000,
		}})
		if _, ok := cfg.Plugin("dynamicsnav"); ok {
			t.Error("a plugin without a block must not appear in Plugins")
		}
	})

	t.Run("an_identity_by_login_keeps_the_login_and_its_attributes", func(t *testing.T) {
		cfg, err := Parse([]byte(`
source "crm" { plugin = "dynamicscrm" }
user "alice" {
  password = "x"
  identity "crm" {
    login      = "Alice@Contoso.com"
    id         = null
    attributes = { region = "north" }
  }
}`), "x.hcl")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := cfg.User("alice")
		id := u.Identities["crm"]
		if id.LoginRange.Start.Line != 6 {
			t.Errorf("the login's range starts on line %d, want 6", id.LoginRange.Start.Line)
		}
		id.LoginRange = hcl.Range{}
		equal(t, "identity", id, Identity{Login: "Alice@Contoso.com", Attributes: map[string]string{"region": "north"}})
	})

	t.Run("a_missing_file_is_an_error_naming_it", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.hcl"))
		if err == nil || !strings.Contains(err.Error(), "nope.hcl") {
			t.Fatalf("got %v, want an error naming nope.hcl", err)
		}
	})
}

func TestShippedConfigs(t *testing.T) {
	t.Setenv("CRM_TENANT_ID", "tenant")
	t.Setenv("CRM_CLIENT_ID", "client")
	t.Setenv("CRM_CLIENT_SECRET", "secret")
	tests := []struct {
		name, file  string
		sources     int
		users       int
		wantEntites []string
	}{
		{name: "the_empty_config_loads_with_no_sources", file: "empty.hcl"},
		{name: "the_dynamics_example_loads_with_its_entities_and_users", file: "example-dynamicscrm.hcl",
			sources: 1, users: 3, wantEntites: []string{"account", "contact", "product"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(filepath.Join("..", "..", "configs", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "sources", len(cfg.Sources), tt.sources)
			equal(t, "users", len(cfg.Users), tt.users)
			if tt.sources > 0 {
				var names []string
				for _, e := range cfg.Sources[0].Entities {
					names = append(names, e.Name)
				}
				equal(t, "entities", names, tt.wantEntites)
			}
		})
	}
}

func TestDatabase(t *testing.T) {
	tests := []struct {
		name, value, kind, dsn string
	}{
		{"plain_sqlite_lives_in_the_data_dir", `"sqlite"`, "sqlite", filepath.Join("conf", "d", "synchub.db")},
		{"a_relative_sqlite_path_resolves_against_the_config_dir", `"sqlite:x/hub.db"`, "sqlite", filepath.Join("conf", "x", "hub.db")},
		{"an_absolute_sqlite_path_stays", `"sqlite:/srv/hub.db"`, "sqlite", "/srv/hub.db"},
		{"in_memory_sqlite_stays", `"sqlite::memory:"`, "sqlite", ":memory:"},
		{"a_postgres_url_is_postgres", `"postgres://hub:pw@db/hub?sslmode=disable"`, "postgres", "postgres://hub:pw@db/hub?sslmode=disable"},
		{"a_postgresql_url_is_postgres", `"postgresql://db/hub"`, "postgres", "postgresql://db/hub"},
		{"a_keyword_dsn_is_postgres", `"host=db dbname=hub user=hub"`, "postgres", "host=db dbname=hub user=hub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "hub {\n  data_dir = \"d\"\n  database = " + tt.value + "\n}\n"
			cfg, err := Parse([]byte(src), filepath.Join("conf", "db.hcl"))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "kind", cfg.DatabaseKind(), tt.kind)
			equal(t, "dsn", cfg.DatabaseDSN(), tt.dsn)
		})
	}
}

func TestLookups(t *testing.T) {
	cfg, err := Parse([]byte(`
plugin "p" {}
source "a" {
  plugin = "p"
  entity "x" { partition_by = "*" }
}
user "u" { password = "x" }
`), "x.hcl")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("lookups_find_what_is_defined", func(t *testing.T) {
		if s, ok := cfg.Source("a"); !ok || s.Name != "a" {
			t.Error("Source(a)")
		}
		if p, ok := cfg.Plugin("p"); !ok || p.Name != "p" {
			t.Error("Plugin(p)")
		}
		if u, ok := cfg.User("u"); !ok || u.Name != "u" {
			t.Error("User(u)")
		}
		if e, ok := cfg.Sources[0].Entity("x"); !ok || e.Name != "x" {
			t.Error("Entity(x)")
		}
	})
	t.Run("lookups_return_pointers_into_the_config", func(t *testing.T) {
		s, _ := cfg.Source("a")
		s.BatchSize = 7
		if cfg.Sources[0].BatchSize != 7 {
			t.Error("Source must return a pointer into Sources")
		}
	})
	t.Run("lookups_miss_what_is_not_defined", func(t *testing.T) {
		if _, ok := cfg.Source("b"); ok {
			t.Error("Source(b)")
		}
		if _, ok := cfg.Plugin("q"); ok {
			t.Error("Plugin(q)")
		}
		if _, ok := cfg.User("U"); ok {
			t.Error("User(U): names are case-sensitive")
		}
		if _, ok := cfg.Sources[0].Entity("y"); ok {
			t.Error("Entity(y)")
		}
	})
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func withoutRanges(ps []Plugin) []Plugin {
	out := append([]Plugin(nil), ps...)
	for i := range out {
		out[i].Range = hcl.Range{}
	}
	return out
}

func withoutEntityRanges(es []Entity) []Entity {
	out := append([]Entity(nil), es...)
	for i := range out {
		out[i].Range, out[i].FilterRange = hcl.Range{}, hcl.Range{}
	}
	return out
}
