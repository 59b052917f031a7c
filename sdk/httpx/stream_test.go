package httpx

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStream_download_outlives_the_attempt_timeout(t *testing.T) {
	const timeout = 30 * time.Millisecond
	b := newBackend(t)
	b.handle = func(n int, w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.WriteString(w, "first half,")
		_ = http.NewResponseController(w).Flush()
		// A slow body: the attempt's timeout covers the headers only.
		select {
		case <-time.After(3 * timeout):
		case <-r.Context().Done():
			return true
		}
		_, _ = io.WriteString(w, "second half")
		return true
	}
	c, _ := newTestClient(t, b, func(o *Options) { o.Timeout = timeout })
	resp, err := c.Stream(testContext(t), http.MethodGet, "/files/1/content", http.Header{"Range": {"bytes=0-"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != "first half,second half" {
		t.Errorf("body = %q, err = %v", got, err)
	}
}

func TestStream_non_2xx_is_a_status_error(t *testing.T) {
	b := newBackend(t, step{status: 503}, step{status: 404, body: `{"error":"itemNotFound"}`})
	c, w := newTestClient(t, b, nil)
	_, err := c.Stream(testContext(t), http.MethodGet, "/files/1/content", nil)
	wantStatus(404)(t, err)
	if b.attempts() != 2 || len(w.all()) != 1 {
		t.Errorf("attempts = %d, waits = %v; want the 503 retried once", b.attempts(), w.all())
	}
}

func TestSend_uploads(t *testing.T) {
	const payload = "0123456789"
	tests := []struct {
		name     string
		req      StreamRequest
		wantHits int
		wantErr  bool
	}{
		{
			name: "plain_reader_is_not_replayed",
			req: StreamRequest{Method: http.MethodPut, URL: "/upload",
				Body: io.MultiReader(strings.NewReader(payload))},
			wantHits: 1, wantErr: true,
		},
		{
			name: "body_factory_makes_it_retryable",
			req: StreamRequest{Method: http.MethodPut, URL: "/upload", ContentLength: int64(len(payload)),
				NewBody: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }},
			wantHits: 2,
		},
		{
			name: "in_memory_reader_is_replayable",
			req: StreamRequest{Method: http.MethodPut, URL: "/upload",
				Body: bytes.NewReader([]byte(payload))},
			wantHits: 2,
		},
		{
			name: "post_with_factory_is_still_not_retried_after_a_5xx",
			req: StreamRequest{Method: http.MethodPost, URL: "/upload",
				NewBody: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }},
			wantHits: 1, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, step{status: 503}, step{status: 201})
			c, _ := newTestClient(t, b, nil)
			resp, err := c.Send(testContext(t), tt.req)
			if resp != nil {
				_ = resp.Body.Close()
			}
			if b.attempts() != tt.wantHits {
				t.Errorf("attempts = %d, want %d", b.attempts(), tt.wantHits)
			}
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			for i, body := range b.bodies {
				if body != payload {
					t.Errorf("attempt %d sent %q", i+1, body)
				}
			}
		})
	}
}
