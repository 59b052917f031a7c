package client

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// corruptTable overwrites the root page of a table of a closed store.
func corruptTable(t *testing.T, path, table string) {
	t.Helper()
	db, err := rawOpen(path, nullLog())
	require.NoError(t, err)
	var root, pageSize int64
	require.NoError(t, db.Raw("SELECT rootpage FROM sqlite_master WHERE name = ?", table).Row().Scan(&root))
	require.NoError(t, db.Raw("PRAGMA page_size").Row().Scan(&pageSize))
	require.NoError(t, db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error)
	closeDB(db)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	garbage := make([]byte, pageSize)
	for i := range garbage {
		garbage[i] = 0xA5
	}
	_, err = f.WriteAt(garbage, (root-1)*pageSize)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestOpenDetectsADamagedStore(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		detail string
	}{
		{name: "a_file_that_is_not_a_database", damage: func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("this is not sqlite at all, not even close........................................................"), 0o600))
		}, detail: "file is not a database"},
		{name: "a_damaged_table", damage: func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
			c, err := Open(context.Background(), Options{Path: path})
			require.NoError(t, err)
			require.NoError(t, c.Close())
			corruptTable(t, path, "records")
		}, detail: ""},
		{name: "a_store_of_a_newer_version", damage: func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
			c, err := Open(context.Background(), Options{Path: path})
			require.NoError(t, err)
			require.NoError(t, setMeta(c.db, "schema_version", "99"))
			require.NoError(t, c.Close())
		}, detail: "written by a newer synchub-device (store version 99, this one knows up to 1)"},
		{name: "another_sqlite_database", damage: func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
			db, err := rawOpen(path, nullLog())
			require.NoError(t, err)
			require.NoError(t, db.Exec("CREATE TABLE notes (x TEXT)").Error)
			closeDB(db)
		}, detail: "not a synchub-device store (no meta table)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "device.db")
			require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
			tt.damage(t, path)
			_, err := Open(context.Background(), Options{Path: path})
			require.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, ce.Detail, tt.detail)
			assert.NotEmpty(t, ce.Detail)
		})
	}
}

func TestRepairKeepsPendingChanges(t *testing.T) {
	e := newEnv(t)
	e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "A", "revenue": 1})
	e.hub.Put("crm", "account", "a2", "", map[string]any{"name": "B"})
	e.sync()
	newID, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "Offline"})
	require.NoError(t, err)
	require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Edited"}))
	before := e.changes()
	devID, err := e.c.DeviceID(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.c.Close())
	corruptTable(t, e.path, "records")

	_, err = Open(e.ctx, Options{Path: e.path})
	require.ErrorIs(t, err, ErrCorrupt)

	e.c = e.open(Options{Repair: true})
	assert.Equal(t, before, e.changes(), "the change log survives the repair")
	got, err := e.c.DeviceID(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, devID, got)
	matches, _ := filepath.Glob(e.path + ".damaged-*")
	assert.NotEmpty(t, matches, "the damaged file is kept aside")

	rep := e.sync() // still logged in; a full pass rebuilds the records
	assert.True(t, rep.Sources[0].FullSync)
	assert.Empty(t, e.changes())
	fields, _, ok := e.hub.Record("crm", "account", "a1")
	require.True(t, ok)
	assert.Equal(t, "Edited", fields["name"])
	_, _, ok = e.hub.Record("crm", "account", newID)
	assert.True(t, ok, "the offline create reached the hub")
	want := []string{"a1", "a2", newID}
	slices.Sort(want)
	assert.Equal(t, want, ids(e.list("account")), "listed in id order")
}
