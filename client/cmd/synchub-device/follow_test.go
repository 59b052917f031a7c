package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSyncFollow(t *testing.T) {
	t.Run("follow_syncs_again_when_the_hub_announces_changes_until_interrupted", func(t *testing.T) {
		c := newCLI(t)
		c.login()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var out, errb lockedBuffer
		env := func(k string) string {
			if k == "SYNCHUB_DEVICE_DB" {
				return c.db
			}
			return ""
		}
		done := make(chan int)
		go func() {
			done <- run(ctx, []string{"sync", "--follow"}, streams{in: strings.NewReader(""), out: &out, err: &errb}, env)
		}()
		waitUntil(t, "following", func() bool { return strings.Contains(out.String(), "following the hub's changes") })
		waitUntil(t, "the event stream", func() bool {
			for _, call := range c.hub.Calls() {
				if strings.HasPrefix(call, "GET /v1/sources/crm/events") {
					return true
				}
			}
			return false
		})
		c.hub.Put("crm", "account", "late", "", map[string]any{"name": "Late"})
		polls := 0
		waitUntil(t, "a second sync", func() bool {
			if polls++; polls%20 == 0 {
				c.hub.Notify("crm") // in case the first notice beat the stream's subscription
			}
			return strings.Count(out.String(), `"phase":"sync","step":"end"`) >= 2
		})
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, 0, code, errb.String())
		case <-time.After(10 * time.Second):
			t.Fatal("sync --follow did not stop when interrupted")
		}
		assert.Contains(t, c.ok("", "ls", "account"), "late")
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
