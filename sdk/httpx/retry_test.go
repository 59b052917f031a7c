package httpx

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRetryPolicy(t *testing.T) {
	clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ok := step{status: 200, body: `{"ok":true}`}
	ra := func(status int, v string) step {
		return step{status: status, header: map[string]string{"Retry-After": v}, body: `{"error":"slow down"}`}
	}
	tests := []struct {
		name       string
		method     string
		idempotent bool
		maxRetries int
		steps      []step
		wantHits   int
		wantWaits  []time.Duration // nil: not checked exactly, only counted by wantHits
		wantErr    func(t *testing.T, err error)
	}{
		{
			name: "retry_after_seconds_on_503_is_honoured", method: "GET",
			steps: []step{ra(503, "7"), ok}, wantHits: 2, wantWaits: []time.Duration{7 * time.Second},
		},
		{
			name: "retry_after_http_date_on_429_is_honoured", method: "GET",
			steps:    []step{ra(429, clock.Add(30*time.Second).Format(http.TimeFormat)), ok},
			wantHits: 2, wantWaits: []time.Duration{30 * time.Second},
		},
		{
			name: "dropbox_json_retry_after_is_honoured", method: "POST",
			steps: []step{
				{status: 429, body: `{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":4}}`},
				ok,
			},
			wantHits: 2, wantWaits: []time.Duration{4 * time.Second},
		},
		{
			name: "429_on_post_is_retried", method: "POST",
			steps: []step{{status: 429}, {status: 429}, ok}, wantHits: 3,
		},
		{
			name: "429_with_retry_after_on_patch_waits_as_asked", method: "PATCH",
			steps: []step{ra(429, "3"), ok}, wantHits: 2, wantWaits: []time.Duration{3 * time.Second},
		},
		{
			name: "500_on_post_is_not_retried", method: "POST",
			steps: []step{{status: 500, body: "boom"}, ok}, wantHits: 1, wantWaits: []time.Duration{},
			wantErr: wantStatus(500),
		},
		{
			name: "503_on_post_is_not_retried_but_reports_retry_after", method: "POST",
			steps: []step{ra(503, "2"), ok}, wantHits: 1,
			wantErr: func(t *testing.T, err error) {
				wantStatus(503)(t, err)
				var se *StatusError
				errors.As(err, &se)
				if se.RetryAfter != 2*time.Second {
					t.Errorf("RetryAfter = %s, want 2s", se.RetryAfter)
				}
			},
		},
		{
			name: "500_on_post_marked_idempotent_is_retried", method: "POST", idempotent: true,
			steps: []step{{status: 500}, ok}, wantHits: 2,
		},
		{
			name: "500_on_get_is_retried_up_to_max_retries_then_status_error", method: "GET", maxRetries: 3,
			steps: []step{{status: 500, body: "still broken"}}, wantHits: 4,
			wantErr: wantStatus(500),
		},
		{
			name: "502_and_504_on_put_are_retried", method: "PUT",
			steps: []step{{status: 502}, {status: 504}, ok}, wantHits: 3,
		},
		{
			name: "501_is_not_retried", method: "GET",
			steps: []step{{status: 501}, ok}, wantHits: 1, wantErr: wantStatus(501),
		},
		{
			name: "404_is_not_retried", method: "DELETE",
			steps: []step{{status: 404}, ok}, wantHits: 1, wantErr: wantStatus(404),
		},
		{
			name: "retry_after_beyond_max_retry_after_fails_at_once", method: "GET",
			steps: []step{ra(429, "600"), ok}, wantHits: 1, wantWaits: []time.Duration{},
			wantErr: wantRetryAfter(600 * time.Second),
		},
		{
			name: "retries_running_out_on_429_give_retry_after_error", method: "GET", maxRetries: 2,
			steps: []step{ra(429, "1")}, wantHits: 3,
			wantWaits: []time.Duration{time.Second, time.Second},
			wantErr:   wantRetryAfter(time.Second),
		},
		{
			name: "negative_max_retries_disables_retries", method: "GET", maxRetries: -1,
			steps: []step{{status: 503}, ok}, wantHits: 1, wantErr: wantStatus(503),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, tt.steps...)
			c, w := newTestClient(t, b, func(o *Options) { o.MaxRetries = tt.maxRetries })
			c.t.now = func() time.Time { return clock }

			req := c.R(testContext(t)).SetBody(`{"name":"x"}`)
			if tt.idempotent {
				c.Idempotent(req)
			}
			_, err := req.Execute(tt.method, "/things")

			if got := b.attempts(); got != tt.wantHits {
				t.Errorf("server saw %d attempts, want %d", got, tt.wantHits)
			}
			if tt.wantWaits != nil && !slices.Equal(w.all(), tt.wantWaits) {
				t.Errorf("waits = %v, want %v", w.all(), tt.wantWaits)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error, got none")
			}
			tt.wantErr(t, err)
		})
	}
}

func TestRetryPolicy_backoff_waits_stay_within_bounds(t *testing.T) {
	b := newBackend(t, step{status: 503})
	c, w := newTestClient(t, b, func(o *Options) {
		o.MaxRetries = 8
		o.MinBackoff = 10 * time.Millisecond
		o.MaxBackoff = 40 * time.Millisecond
	})
	_, err := c.R(testContext(t)).Get("/x")
	wantStatus(503)(t, err)
	got := w.all()
	if len(got) != 8 {
		t.Fatalf("waited %d times, want 8", len(got))
	}
	for i, d := range got {
		ceil := min(40*time.Millisecond, 10*time.Millisecond<<i)
		if d < 0 || d > ceil {
			t.Errorf("wait %d = %s, want within [0, %s]", i, d, ceil)
		}
	}
}

func TestRetryPolicy_context_deadline(t *testing.T) {
	t.Run("retry_after_past_the_deadline_returns_at_once", func(t *testing.T) {
		b := newBackend(t, step{status: 429, header: map[string]string{"Retry-After": "30"}}, step{status: 200})
		c, w := newTestClient(t, b, nil)
		c.t.sleep = sleepCtx // real waits
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.R(ctx).Get("/x")
		if time.Since(start) > time.Second {
			t.Errorf("took %s; a wait beyond the deadline must not be started", time.Since(start))
		}
		wantRetryAfter(30*time.Second)(t, err)
		if b.attempts() != 1 || len(w.all()) != 0 {
			t.Errorf("attempts = %d, want 1", b.attempts())
		}
	})
	t.Run("backoff_loop_stops_at_the_deadline", func(t *testing.T) {
		b := newBackend(t, step{status: 500})
		c, _ := newTestClient(t, b, func(o *Options) {
			o.MaxRetries = 10000
			o.MinBackoff = 5 * time.Millisecond
			o.MaxBackoff = 5 * time.Millisecond
		})
		c.t.sleep = sleepCtx
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.R(ctx).Get("/x")
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("took %s, want about the 150ms deadline", el)
		}
		var se *StatusError
		if !errors.As(err, &se) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the last 500 or the deadline", err)
		}
		if b.attempts() >= 10000 {
			t.Errorf("attempts = %d: retries did not stop at the deadline", b.attempts())
		}
	})
}

func TestRetryPolicy_attempt_timeout(t *testing.T) {
	tests := []struct {
		method   string
		wantHits int
		wantErr  bool
	}{
		{method: "GET", wantHits: 2},
		{method: "POST", wantHits: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.ToLower(tt.method)+"_after_a_hung_attempt", func(t *testing.T) {
			b := newBackend(t)
			b.handle = func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					<-r.Context().Done() // hang until the client gives up on the attempt
					return true
				}
				return false
			}
			c, _ := newTestClient(t, b, func(o *Options) { o.Timeout = 50 * time.Millisecond })
			_, err := c.R(testContext(t)).Execute(tt.method, "/x")
			if b.attempts() != tt.wantHits {
				t.Errorf("attempts = %d, want %d", b.attempts(), tt.wantHits)
			}
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "timed out after 50ms") {
				t.Errorf("err = %v, want it to say the attempt timed out", err)
			}
		})
	}
}

func TestRetryPolicy_network_errors(t *testing.T) {
	tests := []struct {
		method   string
		wantHits int
	}{
		{method: "GET", wantHits: 2},
		{method: "POST", wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(strings.ToLower(tt.method)+"_after_a_dropped_connection", func(t *testing.T) {
			b := newBackend(t)
			b.handle = func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						_ = conn.Close()
					}
					return true
				}
				return false
			}
			tr := b.Client().Transport.(*http.Transport).Clone()
			tr.DisableKeepAlives = true // no transparent retry by net/http on a reused connection
			c, _ := newTestClient(t, b, func(o *Options) { o.HTTPClient = &http.Client{Transport: tr} })
			_, err := c.R(testContext(t)).SetBody("x").Execute(tt.method, "/x")
			if b.attempts() != tt.wantHits {
				t.Errorf("attempts = %d, want %d", b.attempts(), tt.wantHits)
			}
			if (tt.wantHits == 1) != (err != nil) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestRetryPolicy_replays_the_body(t *testing.T) {
	b := newBackend(t, step{status: 429}, step{status: 201})
	c, _ := newTestClient(t, b, nil)
	_, err := c.R(testContext(t)).SetBody(map[string]string{"name": "Contoso"}).Post("/accounts")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.bodies) != 2 || b.bodies[0] != b.bodies[1] || !strings.Contains(b.bodies[1], "Contoso") {
		t.Errorf("bodies = %q, want the same body twice", b.bodies)
	}
}

func TestStatusError_message(t *testing.T) {
	b := newBackend(t, step{status: 404, header: map[string]string{"Content-Type": "text/plain"}, body: "no such\n  account"})
	c, _ := newTestClient(t, b, nil)
	resp, err := c.R(testContext(t)).Get("/accounts(1)?code=s3cr3t&$select=name")
	if resp == nil || resp.StatusCode() != 404 {
		t.Errorf("want the resty response alongside the error")
	}
	want := "GET " + b.URL + "/accounts(1)?code=REDACTED&$select=name: 404 Not Found: no such account"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}

func wantStatus(code int) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var se *StatusError
		if !errors.As(err, &se) {
			t.Fatalf("err = %v (%T), want *StatusError", err, err)
		}
		if se.StatusCode != code {
			t.Errorf("status = %d, want %d", se.StatusCode, code)
		}
	}
}

func wantRetryAfter(d time.Duration) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var rae *RetryAfterError
		if !errors.As(err, &rae) {
			t.Fatalf("err = %v (%T), want *RetryAfterError", err, err)
		}
		if rae.After != d {
			t.Errorf("After = %s, want %s", rae.After, d)
		}
		var se *StatusError
		if !errors.As(err, &se) {
			t.Errorf("RetryAfterError should wrap the *StatusError")
		}
	}
}
