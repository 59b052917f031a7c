package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseStream reads a live event stream line by line.
type sseStream struct {
	t      *testing.T
	lines  chan string
	cancel context.CancelFunc
	resp   *http.Response
}

// openSSE connects to a source's event stream over a real HTTP server.
func openSSE(t *testing.T, ts *httptest.Server, token, source string, headers ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/sources/"+source+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	s := &sseStream{t: t, lines: make(chan string, 100), cancel: cancel, resp: resp}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
	for range s.lines { // wait for the reader to end
	}
}

// next returns the next non-empty line, failing after a deadline.
func (s *sseStream) next() string {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			require.True(s.t, ok, "stream ended")
			if l != "" {
				return l
			}
		case <-deadline:
			s.t.Fatal("no line within 5s")
		}
	}
}

// nextEvent skips heartbeats and returns the next event's id and data.
func (s *sseStream) nextEvent() (id, data string) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		require.True(s.t, time.Now().Before(deadline), "no event within 5s")
		l := s.next()
		if strings.HasPrefix(l, ":") || strings.HasPrefix(l, "retry:") {
			continue
		}
		require.True(s.t, strings.HasPrefix(l, "id: "), l)
		id = strings.TrimPrefix(l, "id: ")
		require.Equal(s.t, "event: changes", s.next())
		d := s.next()
		require.True(s.t, strings.HasPrefix(d, "data: "), d)
		return id, strings.TrimPrefix(d, "data: ")
	}
}

// waitEnd waits for the server to end the stream.
func (s *sseStream) waitEnd() {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return
			}
		case <-deadline:
			s.t.Fatal("stream still open after 5s")
		}
	}
}

// waitConnected reads up to the server's first comment: from then on the
// subscription is in place.
func (s *sseStream) waitConnected() {
	s.t.Helper()
	require.Equal(s.t, "retry: 5000", s.next())
	require.True(s.t, strings.HasPrefix(s.next(), ": connected"))
}

func TestEvents(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ts := httptest.NewServer(e.srv.Handler())
		defer ts.Close()
		alice, bob := e.token("alice"), e.token("bob")

		t.Run("a_change_in_the_callers_partition_is_announced_and_another_users_is_not", func(t *testing.T) {
			s := openSSE(t, ts, alice, "crm")
			assert.Equal(t, http.StatusOK, s.resp.StatusCode)
			assert.Equal(t, "text/event-stream", s.resp.Header.Get("Content-Type"))
			s.waitConnected()
			// Bob's change has the higher seq: had it reached alice, the
			// coalescing slot would hold it instead of hers.
			e.events.Publish("crm", []string{"account/owner=b-2"}, 200)
			e.events.Publish("crm", []string{"account/owner=a-1"}, 101)
			id, data := s.nextEvent()
			assert.Equal(t, "101", id)
			assert.JSONEq(t, `{"source":"crm","seq":101}`, data)
		})
		t.Run("heartbeats_keep_the_stream_alive", func(t *testing.T) {
			s := openSSE(t, ts, bob, "crm")
			s.waitConnected()
			assert.Equal(t, ": heartbeat", s.next())
		})
		t.Run("last_event_id_below_a_change_of_the_caller_sends_an_event_at_once", func(t *testing.T) {
			e.put("crm", record{"account", "acc-1", "1", map[string]any{"name": "x", "ownerid": "A-1"}})
			seq, err := e.st.SourceSeq(context.Background(), "crm")
			require.NoError(t, err)
			s := openSSE(t, ts, alice, "crm", "Last-Event-ID", strconv.FormatInt(seq-1, 10))
			s.waitConnected()
			id, _ := s.nextEvent()
			assert.Equal(t, strconv.FormatInt(seq, 10), id)
		})
		t.Run("last_event_id_at_the_latest_change_sends_nothing_but_heartbeats", func(t *testing.T) {
			seq, err := e.st.SourceSeq(context.Background(), "crm")
			require.NoError(t, err)
			s := openSSE(t, ts, alice, "crm", "Last-Event-ID", strconv.FormatInt(seq, 10))
			s.waitConnected()
			assert.Equal(t, ": heartbeat", s.next(), "the catch-up event would come before the first heartbeat")
		})
		t.Run("changes_in_other_partitions_do_not_trigger_a_catch_up", func(t *testing.T) {
			seq, err := e.st.SourceSeq(context.Background(), "crm")
			require.NoError(t, err)
			e.put("crm", record{"account", "acc-2", "1", map[string]any{"name": "y", "ownerid": "B-2"}})
			s := openSSE(t, ts, alice, "crm", "Last-Event-ID", strconv.FormatInt(seq, 10))
			s.waitConnected()
			assert.Equal(t, ": heartbeat", s.next())
		})
		t.Run("a_malformed_last_event_id_is_400", func(t *testing.T) {
			r := e.do("GET", "/v1/sources/crm/events", alice, nil, "Last-Event-ID", "abc")
			assert.Equal(t, http.StatusBadRequest, r.Code)
			assert.Contains(t, r.errorBody(t).Message, "Last-Event-ID")
		})
		t.Run("a_stream_ends_when_its_access_token_expires", func(t *testing.T) {
			other := newEnv(t, e.st)
			ts2 := httptest.NewServer(other.srv.Handler())
			defer ts2.Close()
			tok := other.token("alice")
			other.clock.Advance(time.Hour - 100*time.Millisecond)
			s := openSSE(t, ts2, tok, "crm")
			s.waitConnected()
			s.waitEnd()
		})
		t.Run("closing_the_server_ends_open_streams", func(t *testing.T) {
			other := newEnv(t, e.st)
			ts2 := httptest.NewServer(other.srv.Handler())
			defer ts2.Close()
			s := openSSE(t, ts2, other.token("alice"), "crm")
			s.waitConnected()
			other.srv.Close()
			s.waitEnd()
		})
	})
}
