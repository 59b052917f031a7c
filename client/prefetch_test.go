package client

import (
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDownloadFetchesTheNextPageWhileApplying: the device asks for the next
// page of changes while it applies the one it has. The test holds the
// device store's write lock from the moment the hub answers the first page
// and releases it once the second request arrives (or after 2 s): a client
// that fetched only after applying would not ask in time.
func TestDownloadFetchesTheNextPageWhileApplying(t *testing.T) {
	e := newEnv(t)
	for i := range 25 {
		e.hub.Put("crm", "account", fmt.Sprintf("a%02d", i), "", map[string]any{"name": fmt.Sprintf("Account %d", i)})
	}
	e.c.opts.PageSize = 10
	lock, err := sql.Open("sqlite3", e.path+"?_busy_timeout=10000")
	require.NoError(t, err)
	t.Cleanup(func() { _ = lock.Close() })
	conn, err := lock.Conn(e.ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	second := make(chan struct{})
	var held, askedWhileHeld atomic.Bool
	e.hub.Lock()
	e.hub.OnChanges = func(n int) {
		switch n {
		case 1:
			_, err := conn.ExecContext(e.ctx, "BEGIN IMMEDIATE")
			held.Store(err == nil)
			go func() {
				select {
				case <-second:
					askedWhileHeld.Store(true)
				case <-time.After(2 * time.Second):
				}
				_, _ = conn.ExecContext(e.ctx, "ROLLBACK")
			}()
		case 2:
			close(second)
		}
	}
	e.hub.Unlock()

	rep := e.sync()
	require.True(t, held.Load(), "the test took the device store's write lock")
	assert.True(t, askedWhileHeld.Load(), "the second page was asked for while the first was waiting to be applied")
	assert.Equal(t, 3, rep.Sources[0].Pages)
	assert.Len(t, e.hub.Records("crm", "account"), 25)
	for i := range 25 {
		_, ok := e.get("account", fmt.Sprintf("a%02d", i))
		assert.True(t, ok, "a%02d", i)
	}
}
