package files

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
)

func TestCache(t *testing.T) {
	dir := t.TempDir()
	c, err := openCache(dir, 100, hclog.NewNullLogger())
	require.NoError(t, err)
	key := func(i int) string {
		return cacheKey(store.File{Source: "s", FileID: string(rune('a' + i)), Version: "1"})
	}
	put := func(i int, data string) {
		t.Helper()
		rc := c.fill(key(i), int64(len(data)), io.NopCloser(strings.NewReader(data)))
		_, err := io.Copy(io.Discard, rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
	}
	get := func(i int, off, n int64) (string, bool) {
		rc, ok := c.get(key(i), 40, off, n)
		if !ok {
			return "", false
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return string(b), true
	}
	data := strings.Repeat("x", 30) + "0123456789"

	t.Run("a_whole_read_is_kept_and_read_back_from_an_offset", func(t *testing.T) {
		put(0, data)
		got, ok := get(0, 30, 5)
		require.True(t, ok)
		assert.Equal(t, "01234", got)
	})
	t.Run("a_read_that_stops_early_keeps_nothing", func(t *testing.T) {
		rc := c.fill(key(1), 40, io.NopCloser(strings.NewReader(data)))
		_, err := io.CopyN(io.Discard, rc, 10)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		_, ok := get(1, 0, 0)
		assert.False(t, ok)
		tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
		assert.Empty(t, tmps)
	})
	t.Run("a_stream_shorter_than_the_listed_size_keeps_nothing", func(t *testing.T) {
		rc := c.fill(key(2), 41, io.NopCloser(bytes.NewReader([]byte(data))))
		_, _ = io.Copy(io.Discard, rc)
		rc.Close()
		_, ok := get(2, 0, 0)
		assert.False(t, ok)
	})
	t.Run("the_least_recently_used_file_goes_first", func(t *testing.T) {
		put(1, data) // 0 and 1: 80 bytes
		_, ok := get(0, 0, 0)
		require.True(t, ok) // 1 is now the least recent
		put(2, data)        // 120 > 100: 1 goes
		_, ok = get(1, 0, 0)
		assert.False(t, ok)
		_, ok = get(0, 0, 0)
		assert.True(t, ok)
		_, ok = get(2, 0, 0)
		assert.True(t, ok)
	})
	t.Run("a_restart_finds_the_files_and_their_order", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, key(5)+".123.tmp"), []byte("partial"), 0o600))
		old := time.Now().Add(-time.Hour)
		require.NoError(t, os.Chtimes(filepath.Join(dir, key(0)), old, old))
		c2, err := openCache(dir, 100, hclog.NewNullLogger())
		require.NoError(t, err)
		assert.EqualValues(t, 80, c2.size)
		tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
		assert.Empty(t, tmps, "partial files of a crash are dropped")
		c = c2
		put(3, data) // 0 is the oldest by mtime
		_, ok := get(0, 0, 0)
		assert.False(t, ok)
		_, ok = get(2, 0, 0)
		assert.True(t, ok)
	})
}
