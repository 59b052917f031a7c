package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
)

// errAttemptTimeout is the cancellation cause of an attempt that ran past
// Options.Timeout.
var errAttemptTimeout = errors.New("attempt timed out")

// transport is the RoundTripper under every Client request. It owns host
// checks, tokens, the per-attempt timeout and the retry loop, so resty and
// the streaming helpers share one policy. It returns a final non-2xx
// response as a response (callers turn it into a *StatusError) and returns
// an error only for failures without a usable response: network errors,
// refused hosts, token failures, context ends and *RetryAfterError.
type transport struct {
	base   http.RoundTripper
	log    hclog.Logger
	hosts  hostPolicy
	tokens *ResettableTokenSource // nil: no Authorization added

	timeout       time.Duration
	maxRetries    int
	minBackoff    time.Duration
	maxBackoff    time.Duration
	maxRetryAfter time.Duration

	// Hooks so tests can observe waits and pin the clock for HTTP-dates.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// attempt is the outcome of one round trip, as the retry loop sees it.
type attempt struct {
	resp    *http.Response
	err     error
	token   string // access token sent, "" if none
	notSent bool   // failed before anything went on the wire: never retried
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	trusted := t.hosts.trusted(req.URL)
	// req.Response is set on the hops of a redirect: those may leave the
	// trusted hosts (a CDN download link) but travel without our token.
	if !trusted && req.Response == nil {
		closeBody(req)
		return nil, t.hosts.refusal(req.URL)
	}
	idempotent := idempotentMethod(req.Method) || flag(ctx, idempotentKey)
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	log := t.log.With("method", req.Method, "url", redactURL(req.URL))

	refreshed := false
	retries := 0
	for n := 1; ; n++ {
		a := t.try(req, n, trusted)
		if a.err != nil {
			if a.notSent || ctx.Err() != nil || !idempotent || !replayable || retries >= t.maxRetries {
				return nil, a.err
			}
			wait := fullJitter(retries, t.minBackoff, t.maxBackoff)
			if !fits(ctx, wait) {
				log.Debug("not retrying: wait would pass the context deadline", "attempt", n, "wait", wait, "error", a.err)
				return nil, a.err
			}
			log.Warn("retrying after error", "attempt", n, "wait", wait, "error", a.err)
			if err := t.sleep(ctx, wait); err != nil {
				return nil, fmt.Errorf("%w while waiting to retry after: %v", err, a.err)
			}
			retries++
			continue
		}

		resp := a.resp
		code := resp.StatusCode
		if code == http.StatusUnauthorized && a.token != "" && !refreshed && replayable {
			refreshed = true
			drain(resp)
			t.tokens.invalidate(a.token)
			log.Warn("token rejected with 401; refreshing it and retrying once", "attempt", n)
			continue
		}
		if code != http.StatusTooManyRequests && !(serverError(code) && idempotent) {
			return resp, nil
		}

		// A retryable status: keep the start of the body for Retry-After in
		// JSON and for the error, and leave the body readable if we return it.
		head := peek(resp, maxErrorBody)
		ra, hasRA := retryAfter(code, resp.Header, head, t.now())
		if hasRA && ra > t.maxRetryAfter {
			log.Warn("server asks for a wait longer than MaxRetryAfter; not waiting", "status", code, "retry_after", ra, "max", t.maxRetryAfter)
			return nil, t.retryAfterError(req, resp, head, a.token, ra)
		}
		if !replayable {
			log.Debug("not retrying: request body cannot be replayed", "status", code)
			return resp, nil
		}
		wait := ra
		if !hasRA {
			wait = fullJitter(retries, t.minBackoff, t.maxBackoff)
		}
		if retries >= t.maxRetries || !fits(ctx, wait) {
			log.Debug("not retrying: retries exhausted or the wait would pass the context deadline", "status", code, "attempt", n, "wait", wait)
			if code == http.StatusTooManyRequests || hasRA {
				return nil, t.retryAfterError(req, resp, head, a.token, wait)
			}
			return resp, nil
		}
		drain(resp)
		log.Warn("retrying", "status", code, "attempt", n, "wait", wait, "retry_after", hasRA)
		if err := t.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%w while waiting to retry after status %d", err, code)
		}
		retries++
	}
}

func (t *transport) retryAfterError(req *http.Request, resp *http.Response, head []byte, token string, after time.Duration) *RetryAfterError {
	drain(resp)
	return &RetryAfterError{After: after, Err: newStatusError(req.Method, req.URL, resp, head, t.now(), token)}
}

// try sends attempt n of req, with a fresh body, the token when trusted, and
// the per-attempt timeout.
func (t *transport) try(req *http.Request, n int, trusted bool) attempt {
	ctx := req.Context()
	out := req.Clone(ctx)
	if n > 1 && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return attempt{notSent: true, err: fmt.Errorf("reopen body for retry: %w", err)}
		}
		out.Body = body
	}
	var a attempt
	if trusted && t.tokens != nil && out.Header.Get("Authorization") == "" {
		tctx, cancel := context.WithTimeout(ctx, t.timeout)
		tok, err := t.tokens.TokenContext(tctx)
		cancel()
		if err != nil {
			closeBody(out)
			return attempt{notSent: true, err: fmt.Errorf("get access token: %w", err)}
		}
		tok.SetAuthHeader(out)
		a.token = tok.AccessToken
	}

	actx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(t.timeout, func() { cancel(errAttemptTimeout) })
	start := time.Now()
	resp, err := t.base.RoundTrip(out.WithContext(actx))
	elapsed := time.Since(start)
	if err != nil {
		timer.Stop()
		if errors.Is(context.Cause(actx), errAttemptTimeout) && ctx.Err() == nil {
			err = fmt.Errorf("attempt %d timed out after %s: %w", n, t.timeout, err)
		}
		cancel(nil)
		t.log.Debug("http request", "method", req.Method, "url", redactURL(req.URL), "attempt", n, "duration", elapsed, "error", err)
		a.err = err
		return a
	}
	if flag(ctx, streamKey) {
		timer.Stop() // a download may take longer than one attempt's budget
	}
	resp.Body = &attemptBody{ReadCloser: resp.Body, ctx: actx, timeout: t.timeout, release: func() {
		timer.Stop()
		cancel(nil)
	}}
	// Hand back the caller's request, not our copy with the Authorization
	// header in it.
	resp.Request = req
	t.log.Debug("http request", "method", req.Method, "url", redactURL(req.URL), "status", resp.StatusCode, "attempt", n, "duration", elapsed)
	a.resp = resp
	return a
}

// fits reports whether waiting d leaves the context's deadline ahead of us:
// no retry wait outlives the caller's context.
func fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attemptBody ties an attempt's context to its response body: closing the
// body releases it, and a read cut by the per-attempt timeout says so.
type attemptBody struct {
	io.ReadCloser
	ctx     context.Context
	timeout time.Duration
	release func()
}

func (b *attemptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), errAttemptTimeout) {
		err = fmt.Errorf("reading response body: attempt timed out after %s: %w", b.timeout, err)
	}
	return n, err
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// peek reads up to n bytes of resp's body and puts them back in front of
// the rest, so the body still reads in full.
func peek(resp *http.Response, n int64) []byte {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, n))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return head
}

// drain reads a little of a body we discard, so the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
