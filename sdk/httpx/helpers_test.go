package httpx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// step is one scripted answer; the last step repeats once the script runs out.
type step struct {
	status int
	header map[string]string
	body   string
}

type backend struct {
	*httptest.Server
	hits   atomic.Int32
	mu     sync.Mutex
	bodies []string // request bodies, in order
	auth   []string // Authorization headers, in order
	steps  []step   // scripted answers
	handle func(n int, w http.ResponseWriter, r *http.Request) bool
}

// newBackend starts a 127.0.0.1 server answering with steps.
func newBackend(t *testing.T, steps ...step) *backend {
	t.Helper()
	b := &backend{steps: steps}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(b.hits.Add(1))
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.bodies = append(b.bodies, string(body))
		b.auth = append(b.auth, r.Header.Get("Authorization"))
		b.mu.Unlock()
		if b.handle != nil && b.handle(n, w, r) {
			return
		}
		s := step{status: http.StatusOK, body: `{}`}
		if len(b.steps) > 0 {
			s = b.steps[min(n, len(b.steps))-1]
		}
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(s.status)
		_, _ = io.WriteString(w, s.body)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) attempts() int { return int(b.hits.Load()) }

// waits records the retry waits the transport chose instead of sleeping them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// newTestClient returns a Client on b with tiny backoffs whose waits are
// recorded, not slept.
func newTestClient(t *testing.T, b *backend, mod func(*Options)) (*Client, *waits) {
	t.Helper()
	opts := Options{
		BaseURL:    b.URL,
		HTTPClient: b.Client(),
		MinBackoff: time.Millisecond,
		MaxBackoff: 2 * time.Millisecond,
		Logger:     hclog.NewNullLogger(),
	}
	if mod != nil {
		mod(&opts)
	}
	c := New(opts)
	w := &waits{}
	c.t.sleep = w.sleep
	return c, w
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
