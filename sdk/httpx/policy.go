package httpx

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfterValue bounds a parsed Retry-After so absurd values cannot
// overflow a time.Duration; anything this large exceeds any MaxRetryAfter.
const maxRetryAfterValue = 1000 * 24 * time.Hour

type ctxKey int

const (
	idempotentKey ctxKey = iota // request marked safe to retry
	streamKey                   // per-attempt timeout stops at the response headers
)

func withIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey, true)
}

func withStreaming(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamKey, true)
}

func flag(ctx context.Context, k ctxKey) bool {
	v, _ := ctx.Value(k).(bool)
	return v
}

// idempotentMethod reports whether RFC 9110 lets a client resend method
// without changing the outcome.
func idempotentMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// serverError reports the 5xx statuses worth retrying: transient by
// definition. 501, 505 and friends are not.
func serverError(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter returns the wait the server asked for on a 429 or 503: the
// Retry-After header (delay-seconds or HTTP-date, relative to now), or else
// a JSON body's retry_after (Dropbox: {"error": {"retry_after": 300}}, or at
// the top level). ok is false when there is none or it is not positive.
func retryAfter(code int, h http.Header, body []byte, now time.Time) (d time.Duration, ok bool) {
	if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
		return 0, false
	}
	if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		return d, d > 0
	}
	if !isJSON(h.Get("Content-Type")) || len(body) == 0 {
		return 0, false
	}
	var top struct {
		RetryAfter *float64        `json:"retry_after"`
		Error      json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &top) != nil {
		return 0, false
	}
	secs := top.RetryAfter
	if secs == nil && len(top.Error) > 0 {
		var nested struct {
			RetryAfter *float64 `json:"retry_after"`
		}
		if json.Unmarshal(top.Error, &nested) == nil {
			secs = nested.RetryAfter
		}
	}
	if secs == nil {
		return 0, false
	}
	d = secondsToDuration(*secs)
	return d, d > 0
}

// parseRetryAfter parses a Retry-After header value. ok is false when v is
// empty or malformed; a date in the past gives (0, true).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || secs < 0 {
			return 0, false
		}
		return secondsToDuration(secs), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return min(d, maxRetryAfterValue), true
}

func secondsToDuration(secs float64) time.Duration {
	if math.IsNaN(secs) || secs <= 0 {
		return 0
	}
	if secs >= maxRetryAfterValue.Seconds() {
		return maxRetryAfterValue
	}
	return time.Duration(secs * float64(time.Second))
}

// fullJitter returns the wait before retry number n (0-based): uniformly
// random in [0, min(maxWait, base·2^n)] ("full jitter", so many clients
// throttled together do not come back in lockstep).
func fullJitter(n int, base, maxWait time.Duration) time.Duration {
	ceil := maxWait
	if n < 62 && base > 0 && base <= maxWait>>n {
		ceil = base << n
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

// isJSON reports whether a Content-Type names JSON (application/json with
// any parameters, such as OData's odata.metadata, or a +json suffix).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}
