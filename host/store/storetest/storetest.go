// Package storetest opens throwaway stores for tests: SQLite in a temp
// directory always, and PostgreSQL when SYNCHUB_TEST_POSTGRES holds a DSN,
// each in a schema of its own that is dropped when the test ends, so
// parallel tests and reruns never see each other's rows.
//
// It must not be imported by non-test code.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/synchub/synchub/host/store"
)

// EnvPostgres names the environment variable holding the PostgreSQL DSN
// tests use; unset skips the PostgreSQL variants.
const EnvPostgres = "SYNCHUB_TEST_POSTGRES"

// ForEachDB runs fn as a subtest per database: "sqlite", and "postgres"
// when EnvPostgres is set. Each subtest gets a fresh, migrated store that
// is closed (and its schema dropped) when the subtest ends.
func ForEachDB(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(EnvPostgres) == "" {
			t.Skip(EnvPostgres + " not set")
		}
		fn(t, Postgres(t))
	})
}

// Open returns a fresh store per available database: SQLite, then
// PostgreSQL when EnvPostgres is set.
func Open(t *testing.T) []*store.Store {
	t.Helper()
	out := []*store.Store{SQLite(t)}
	if os.Getenv(EnvPostgres) != "" {
		out = append(out, Postgres(t))
	}
	return out
}

// Logger returns an hclog logger writing through t.Log at warn level (or
// the level in SYNCHUB_TEST_LOG).
func Logger(t testing.TB) hclog.Logger {
	level := hclog.Warn
	if l := os.Getenv("SYNCHUB_TEST_LOG"); l != "" {
		level = hclog.LevelFromString(l)
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: level, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// SQLite opens a fresh SQLite store in a temp directory.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "synchub.db")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, store.Options{Kind: store.KindSQLite, Path: path, Logger: Logger(t)})
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Postgres opens a fresh PostgreSQL store in a new schema; it skips the test
// when EnvPostgres is unset.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	dsn := PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, store.Options{Kind: store.KindPostgres, DSN: dsn, Logger: Logger(t), MaxConns: 8})
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresDSN creates a schema test_<random> and returns a DSN whose
// search_path selects it; the schema is dropped when the test ends (after
// cleanups registered later, such as closing stores opened on it). It skips
// the test when EnvPostgres is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skip(EnvPostgres + " not set")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvPostgres, err)
	}
	sqlDB, _ := admin.DB()
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		sqlDB.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer sqlDB.Close()
		if err := admin.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns dsn (URL or keyword/value form) with search_path
// set to schema.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
