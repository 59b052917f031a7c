package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm/schema"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpen(t *testing.T) {
	t.Run("sqlite_creates_the_file_and_its_parent_directories", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a", "b", "hub.db")
		s, err := store.Open(ctxT(t), store.Options{Path: path})
		require.NoError(t, err)
		defer s.Close()
		_, err = os.Stat(path)
		require.NoError(t, err)
		var mode string
		require.NoError(t, s.DB().Raw("PRAGMA journal_mode").Scan(&mode).Error)
		assert.Equal(t, "wal", mode)
		var fk int
		require.NoError(t, s.DB().Raw("PRAGMA foreign_keys").Scan(&fk).Error)
		assert.Equal(t, 1, fk)
	})
	t.Run("sqlite_in_memory_works", func(t *testing.T) {
		s, err := store.Open(ctxT(t), store.Options{Path: ":memory:"})
		require.NoError(t, err)
		defer s.Close()
		seq, err := s.SourceSeq(ctxT(t), "x")
		require.NoError(t, err)
		assert.Zero(t, seq)
	})
	t.Run("an_unknown_kind_is_refused", func(t *testing.T) {
		_, err := store.Open(ctxT(t), store.Options{Kind: "oracle"})
		assert.ErrorContains(t, err, "oracle")
	})
	t.Run("the_read_pool_refuses_writes", func(t *testing.T) {
		s := storetest.SQLite(t)
		err := s.ReadDB().Exec("INSERT INTO sources (name, seq) VALUES ('x', 0)").Error
		assert.Error(t, err)
	})
}

// TestMigrations checks that migrating an empty database gives every
// column the live models describe, and that migrating again is a no-op.
func TestMigrations(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		models := []any{&store.Source{}, &store.EntityState{}, &store.Record{}, &store.PartitionItem{},
			&store.PartitionFloor{}, &store.User{}, &store.UserIdentity{}, &store.Device{}, &store.Token{},
			&store.PushMutation{}, &store.PushMutationBody{}, &store.PushOp{}, &store.RecordVersion{},
			&store.File{}, &store.FileSource{}, &store.FileOrphan{}, &store.FileUpload{}}
		m := s.DB().Migrator()
		for _, model := range models {
			name := reflect.TypeOf(model).Elem().Name()
			require.True(t, m.HasTable(model), "table of %s", name)
			sch, err := schema.Parse(model, &sync.Map{}, s.DB().NamingStrategy)
			require.NoError(t, err)
			for _, f := range sch.Fields {
				if f.DBName != "" {
					assert.True(t, m.HasColumn(model, f.DBName), "%s.%s", name, f.DBName)
				}
			}
			for _, idx := range sch.ParseIndexes() {
				assert.True(t, m.HasIndex(model, idx.Name), "%s index %s", name, idx.Name)
			}
		}
		var ids []string
		require.NoError(t, s.DB().Table("migrations").Order("id").Pluck("id", &ids).Error)
		assert.Equal(t, []string{"2026112201_initial", "2026112202_push", "2026112203_files", "2026120601_identity_login",
			"2026120602_mutation_bodies", "2026120701_waiting_index"}, ids)
		for _, col := range []string{"fields", "base_fields", "server_record", "conflict_fields"} {
			assert.False(t, m.HasColumn(&store.PushMutation{}, col), "push_mutations.%s moved to push_mutation_bodies", col)
		}
		var river int64
		require.NoError(t, s.DB().Table("river_migration").Count(&river).Error)
		assert.Positive(t, river, "river's migrations ran")
	})
	t.Run("opening_an_existing_database_again_migrates_nothing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hub.db")
		for range 2 {
			s, err := store.Open(ctxT(t), store.Options{Path: path})
			require.NoError(t, err)
			var n int64
			require.NoError(t, s.DB().Table("migrations").Count(&n).Error)
			assert.EqualValues(t, 6, n)
			require.NoError(t, s.Close())
		}
	})
	t.Run("a_database_a_newer_hub_migrated_is_refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hub.db")
		s, err := store.Open(ctxT(t), store.Options{Path: path})
		require.NoError(t, err)
		require.NoError(t, s.DB().Exec("INSERT INTO migrations (id) VALUES ('2099010101_from_the_future')").Error)
		require.NoError(t, s.Close())
		_, err = store.Open(ctxT(t), store.Options{Path: path})
		assert.ErrorContains(t, err, "migrate store")
		assert.ErrorIs(t, err, gormigrate.ErrUnknownPastMigration, "refused for the migration it does not know")
	})
}

func TestLease(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		release, err := s.TryLease(ctx, "pull:crm")
		require.NoError(t, err)
		if s.Kind() == store.KindPostgres {
			// A second hub instance on the same database and schema.
			other, err := store.Open(ctx, store.Options{Kind: store.KindPostgres, DSN: dsnOf(t, s)})
			require.NoError(t, err)
			defer other.Close()
			_, err = other.TryLease(ctx, "pull:crm")
			assert.ErrorIs(t, err, store.ErrLeaseHeld)
			r2, err := other.TryLease(ctx, "pull:erp")
			require.NoError(t, err, "another source's lease is free")
			r2()
			release()
			r3, err := other.TryLease(ctx, "pull:crm")
			require.NoError(t, err, "a released lease can be taken")
			r3()
			return
		}
		release()
	})
}

// dsnOf recovers a DSN for the store's schema.
func dsnOf(t *testing.T, s *store.Store) string {
	var schema string
	require.NoError(t, s.DB().Raw("SELECT current_schema()").Scan(&schema).Error)
	return storetest.WithSearchPath(os.Getenv(storetest.EnvPostgres), schema)
}

func TestErrNotFoundWraps(t *testing.T) {
	s := storetest.SQLite(t)
	_, err := s.GetRecord(ctxT(t), "a", "b", "c")
	assert.True(t, errors.Is(err, store.ErrNotFound), fmt.Sprint(err))
}

// TestSQLiteWriterLeavesTheWALAlone: the writer's commits never checkpoint
// (the checkpointer does, see TestCheckpointerCopiesTheWAL), and the WAL
// file is truncated back to 64 MB when it starts over.
func TestSQLiteWriterLeavesTheWALAlone(t *testing.T) {
	s := storetest.SQLite(t)
	var pages, limit int64
	require.NoError(t, s.DB().Raw("PRAGMA wal_autocheckpoint").Scan(&pages).Error)
	require.NoError(t, s.DB().Raw("PRAGMA journal_size_limit").Scan(&limit).Error)
	assert.EqualValues(t, 0, pages)
	assert.EqualValues(t, 64<<20, limit)
}

// TestSQLiteWriterPageCache: the writer keeps a page cache big enough for
// the mirror's index pages (openSQLite says why); the read pool keeps
// SQLite's default.
func TestSQLiteWriterPageCache(t *testing.T) {
	s := storetest.SQLite(t)
	var writer, reader int64
	require.NoError(t, s.DB().Raw("PRAGMA cache_size").Scan(&writer).Error)
	require.NoError(t, s.ReadDB().Raw("PRAGMA cache_size").Scan(&reader).Error)
	assert.EqualValues(t, -store.WriterCacheKiB, writer, "KiB, as a negative cache_size")
	assert.EqualValues(t, -2000, reader)
}

// TestPostgresSessions: the hub's PostgreSQL sessions plan generically
// (see genericPlans) and keep as many connections idle as may be open,
// unless the DSN chooses a plan_cache_mode of its own.
func TestPostgresSessions(t *testing.T) {
	for _, tc := range []struct {
		name, param, want string
	}{
		{"by_default_generic", "", "force_generic_plan"},
		{"as_the_dsn_says", "auto", "auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := storetest.PostgresDSN(t)
			if tc.param != "" {
				if strings.Contains(dsn, "://") {
					dsn += "&plan_cache_mode=" + tc.param
				} else {
					dsn += " plan_cache_mode=" + tc.param
				}
			}
			s, err := store.Open(ctxT(t), store.Options{Kind: store.KindPostgres, DSN: dsn, MaxConns: 12, Logger: storetest.Logger(t)})
			require.NoError(t, err)
			defer s.Close()
			var mode string
			require.NoError(t, s.DB().Raw("SHOW plan_cache_mode").Scan(&mode).Error)
			assert.Equal(t, tc.want, mode)
			// Twelve sessions at once, all returned: all twelve stay open.
			conns := make([]*sql.Conn, 12)
			for i := range conns {
				conns[i], err = s.SQLDB().Conn(ctxT(t))
				require.NoError(t, err)
			}
			for _, c := range conns {
				require.NoError(t, c.Close())
			}
			assert.Equal(t, 12, s.SQLDB().Stats().Idle, "idle connections kept")
		})
	}
}
