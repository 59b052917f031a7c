package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
)

// TestCheckpointerCopiesTheWAL: the writer's commits leave the write-ahead
// log alone (no automatic checkpoint) and the background checkpointer
// copies it into the database file within a moment of the writes.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := store.Open(ctxT(t), store.Options{Kind: store.KindSQLite, Path: path})
	require.NoError(t, err)
	defer s.Close()
	before := fileSize(t, path)
	_, err = s.EnsureEntityState(ctxT(t), "crm", "account")
	require.NoError(t, err)
	big := `"` + strings.Repeat("x", 1000) + `"`
	for b := range 4 {
		var recs []store.MirrorRecord
		for i := range 500 {
			f := fmt.Sprintf(`{"name":%s,"n":%d}`, big, i)
			recs = append(recs, store.MirrorRecord{ID: fmt.Sprintf("r%d-%d", b, i), Version: "1", Fields: []byte(f), Hash: f, Partition: "p"})
		}
		_, err := s.ApplyBatch(ctxT(t), store.Batch{Source: "crm", Entity: "account", Put: recs})
		require.NoError(t, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path) < before+1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is still %d bytes (%d before 2 MB of records): nothing checkpointed the WAL", fileSize(t, path), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}
