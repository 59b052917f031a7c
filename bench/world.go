package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the PostgreSQL ceiling and schemas
	"golang.org/x/crypto/bcrypt"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
)

// The databases a benchmark can run on.
const (
	dbSQLite   = "sqlite"
	dbPostgres = "postgres"
)

// devicePassword is every benchmark user's password; its bcrypt hash is
// made at the minimum cost so that logging in 1,000 devices measures the
// hub, not bcrypt.
const devicePassword = "bench-password"

// checkpointKey signs the benchmark hubs' checkpoints.
const checkpointKey = "bench-checkpoint-key-0123456789abcdef0123456789"

func label(kind string) string {
	if kind == dbPostgres {
		return "PostgreSQL"
	}
	return "SQLite"
}

// freshDB is an empty database for one run: a SQLite file in a new
// directory, or a new PostgreSQL schema. Drop removes it.
type freshDB struct {
	Kind string
	Path string // SQLite file
	DSN  string // PostgreSQL DSN selecting the schema
	drop func()
}

func (f freshDB) Drop() {
	if f.drop != nil {
		f.drop()
	}
}

// newDB makes a fresh database of kind under dir (SQLite) or in pgDSN's
// database (PostgreSQL: schema bench_<random>, dropped by Drop).
func newDB(ctx context.Context, kind, dir, pgDSN string) (freshDB, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	switch kind {
	case dbSQLite:
		d := filepath.Join(dir, "db-"+id)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return freshDB{}, err
		}
		return freshDB{Kind: kind, Path: filepath.Join(d, "synchub.db"), drop: func() { os.RemoveAll(d) }}, nil
	case dbPostgres:
		schema := "bench_" + id
		admin, err := sql.Open("pgx", pgDSN)
		if err != nil {
			return freshDB{}, err
		}
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			admin.Close()
			return freshDB{}, fmt.Errorf("create schema: %w", err)
		}
		return freshDB{Kind: kind, DSN: withSearchPath(pgDSN, schema), drop: func() {
			defer admin.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				fmt.Fprintf(os.Stderr, "bench: drop schema %s: %v\n", schema, err)
			}
		}}, nil
	}
	return freshDB{}, fmt.Errorf("unknown database kind %q", kind)
}

// openStore opens the hub's store on f.
func openStore(ctx context.Context, f freshDB) (*store.Store, error) {
	opts := store.Options{Kind: f.Kind, Path: f.Path, DSN: f.DSN}
	return store.Open(ctx, opts)
}

// freshStore opens the hub's store on a fresh database (see newDB); done
// closes it and drops the database.
func freshStore(ctx context.Context, kind, dir, pgDSN string) (st *store.Store, done func(), err error) {
	f, err := newDB(ctx, kind, dir, pgDSN)
	if err != nil {
		return nil, nil, err
	}
	if st, err = openStore(ctx, f); err != nil {
		f.Drop()
		return nil, nil, err
	}
	return st, func() { st.Close(); f.Drop() }, nil
}

// withSearchPath returns dsn (URL or keyword/value form) selecting schema.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// pgReachable says whether dsn answers within a few seconds.
func pgReachable(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// hubUser is a config user block.
type hubUser struct {
	Name     string
	Identity string // identity id on the source, "" for none
}

// crmHub describes a hub config with one Dynamics CRM source "crm" and
// its "account" entity.
type crmHub struct {
	PluginDir, DataDir string
	URL, TokenURL      string
	PageSize           int    // entity page_size; 0 = the config's default
	Partition          string // partition_by of account
	Fields             []string
	Users              []hubUser
}

func (h crmHub) config() (*config.Config, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "hub {\n  plugin_dir = %q\n  data_dir = %q\n  checkpoint_key = %q\n}\n", h.PluginDir, h.DataDir, checkpointKey)
	fmt.Fprintf(&b, `source "crm" {
  plugin = "dynamicscrm"
  config = {
    url           = %q
    token_url     = %q
    tenant_id     = %q
    client_id     = %q
    client_secret = %q
  }
  interval      = "0"
  max_staleness = "24h"
  entity "account" {
    partition_by = %q
`, h.URL, h.TokenURL, emuTenant, emuClient, emuSecret, h.Partition)
	if h.PageSize > 0 {
		fmt.Fprintf(&b, "    page_size = %d\n", h.PageSize)
	}
	if len(h.Fields) > 0 {
		q, _ := json.Marshal(h.Fields)
		fmt.Fprintf(&b, "    fields = %s\n", q)
	}
	b.WriteString("  }\n}\n")
	writeUsers(&b, "crm", h.Users)
	return config.Parse([]byte(b.String()), filepath.Join(h.DataDir, "bench.hcl"))
}

var passwordHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(devicePassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func writeUsers(b *strings.Builder, source string, users []hubUser) {
	for _, u := range users {
		fmt.Fprintf(b, "user %q {\n  password_hash = %q\n", u.Name, passwordHash)
		if u.Identity != "" {
			fmt.Fprintf(b, "  identity %q { id = %q }\n", source, u.Identity)
		}
		b.WriteString("}\n")
	}
}

// decodeJSON reads a JSON answer into v; a status other than 2xx is an
// error carrying the start of the body.
func decodeJSON(resp *http.Response, v any) error {
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
