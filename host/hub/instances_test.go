package hub_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

// TestAChangePulledByOneInstanceWakesADeviceConnectedToAnother runs two
// hubs on one PostgreSQL schema over one back end: alice's event stream is
// open on hub B, hub A pulls her change, and the notice crosses over.
func TestAChangePulledByOneInstanceWakesADeviceConnectedToAnother(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mem := memconn.New()
	open := func() *hub.Hub {
		st, err := store.Open(ctx, store.Options{Kind: store.KindPostgres, DSN: dsn, Logger: storetest.Logger(t), MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		h, err := hub.Open(ctx, hub.Options{Config: loadConfig(t, fmt.Sprintf(loginConfig, pluginDir)), Store: st,
			Logger: storetest.Logger(t), Clients: map[string]sdk.Client{"mem": sdk.InProcess(mem, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		return h
	}
	a, b := open(), open()
	if err := a.Puller().PullSource(ctx, "mem", nil, false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	// Closed after the stream's cleanup: Close waits for open requests.
	t.Cleanup(srv.Close)
	alice := signIn(t, srv.URL, "alice", "alice-pw") // u2 on mem
	stream := openEvents(t, srv.URL, alice.token, "mem")

	// u1's change first: had its notice reached alice, she would read its
	// (lower) seq before her own.
	mem.Put("account", map[string]any{"id": "acc-0002", "name": "Not alice's", "owner": map[string]any{"entity": "user", "id": "u1"}})
	if err := a.Puller().PullSource(ctx, "mem", nil, false); err != nil {
		t.Fatal(err)
	}
	mem.Put("account", map[string]any{"id": "acc-0001", "name": "Alice's, renamed", "owner": map[string]any{"entity": "user", "id": "u2"}})
	if err := a.Puller().PullSource(ctx, "mem", nil, false); err != nil {
		t.Fatal(err)
	}
	want, err := a.Store().SourceSeq(ctx, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if got := stream.nextEventID(); got != want {
		t.Errorf("alice's stream on hub B announced seq %d, want %d: the seq of her change pulled by hub A", got, want)
	}
}

// eventStream reads a device's server-sent events.
type eventStream struct {
	t     *testing.T
	lines chan string
}

// openEvents opens the stream and waits until the hub has subscribed it.
func openEvents(t *testing.T, url, token, source string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/sources/"+source+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &eventStream{t: t, lines: make(chan string, 16)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		for range s.lines {
		}
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("open the event stream: %s", resp.Status)
	}
	for l := s.next(); !strings.HasPrefix(l, ": connected"); l = s.next() {
	}
	return s
}

func (s *eventStream) next() string {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			s.t.Fatal("the event stream ended")
		}
		return l
	case <-time.After(10 * time.Second):
		s.t.Fatal("nothing on the event stream within 10s")
	}
	return ""
}

// nextEventID skips comments and returns the next event's id (its seq).
func (s *eventStream) nextEventID() int64 {
	s.t.Helper()
	for {
		if id, ok := strings.CutPrefix(s.next(), "id: "); ok {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				s.t.Fatalf("event id %q: %v", id, err)
			}
			return n
		}
	}
}
