package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultTimeout       = 60 * time.Second
	DefaultMaxRetries    = 5
	DefaultMinBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
	DefaultUserAgent     = "synchub-connector"
)

// Options configure a Client. Zero values take the defaults above.
type Options struct {
	// BaseURL is prefixed to relative request URLs; its host is trusted.
	BaseURL string
	// Logger receives a debug line per attempt and a warning per retry;
	// nil discards.
	Logger hclog.Logger
	// Timeout bounds one attempt, the response body read included (for
	// Stream and Send: until the response headers). The context bounds the
	// whole call, retries and waits included.
	Timeout time.Duration
	// MaxRetries is how many times a request may be retried after its first
	// attempt (so MaxRetries+1 attempts). Negative disables retries.
	MaxRetries int
	// MinBackoff is the exponential backoff's base: retry n waits a random
	// duration in [0, min(MaxBackoff, MinBackoff·2^n)].
	MinBackoff time.Duration
	// MaxBackoff caps a computed (not a server-requested) wait.
	MaxBackoff time.Duration
	// MaxRetryAfter caps the server's Retry-After we are willing to sleep;
	// beyond it the call fails at once with a *RetryAfterError so the caller
	// can reschedule.
	MaxRetryAfter time.Duration
	// TokenSource, when set, supplies "Authorization: Bearer" for requests
	// to trusted hosts. Use ClientCredentials or RefreshToken, or any
	// oauth2.TokenSource (wrapped in a ResettableTokenSource).
	TokenSource oauth2.TokenSource
	// UserAgent is sent on every request.
	UserAgent string
	// Header holds default headers for every request.
	Header http.Header
	// AllowedHosts lists further trusted hosts besides BaseURL's: "host"
	// (any port), "host:port", or "*.example.com" (any subdomain). Absolute
	// URLs elsewhere are refused with ErrHostNotAllowed.
	AllowedHosts []string
	// HTTPClient supplies the transport, cookie jar and redirect policy
	// (tests inject one); its Timeout is ignored in favour of Timeout.
	HTTPClient *http.Client
}

// Client is the HTTP client connectors use. It is safe for concurrent use.
type Client struct {
	rc      *resty.Client
	hc      *http.Client
	t       *transport
	baseURL string
	header  http.Header
	tokens  *ResettableTokenSource
}

// New builds a Client from opts.
func New(opts Options) *Client {
	opts = withDefaults(opts)
	var base *url.URL
	if opts.BaseURL != "" {
		// An unparsable BaseURL leaves no host trusted; requests then fail
		// with ErrHostNotAllowed, which names the problem.
		base, _ = url.Parse(opts.BaseURL)
	}

	var tokens *ResettableTokenSource
	switch ts := opts.TokenSource.(type) {
	case nil:
	case *ResettableTokenSource:
		tokens = ts
	default:
		tokens = NewResettableTokenSource(ts)
	}

	t := &transport{
		base:          http.DefaultTransport,
		log:           opts.Logger,
		hosts:         newHostPolicy(base, opts.AllowedHosts),
		tokens:        tokens,
		timeout:       opts.Timeout,
		maxRetries:    opts.MaxRetries,
		minBackoff:    opts.MinBackoff,
		maxBackoff:    opts.MaxBackoff,
		maxRetryAfter: opts.MaxRetryAfter,
		sleep:         sleepCtx,
		now:           time.Now,
	}
	hc := &http.Client{Transport: t}
	if in := opts.HTTPClient; in != nil {
		if in.Transport != nil {
			t.base = in.Transport
		}
		hc.Jar, hc.CheckRedirect = in.Jar, in.CheckRedirect
	}
	if hc.Jar == nil {
		// Some back ends (Creatio) keep the session in cookies.
		hc.Jar, _ = cookiejar.New(nil)
	}

	header := http.Header{}
	for k, vs := range opts.Header {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	header.Set("User-Agent", opts.UserAgent)

	c := &Client{
		hc:      hc,
		t:       t,
		baseURL: opts.BaseURL,
		header:  header,
		tokens:  tokens,
	}
	rc := resty.NewWithClient(hc).
		SetBaseURL(opts.BaseURL).
		SetLogger(restyLogger{opts.Logger}).
		SetRetryCount(0) // the transport retries; resty's loop would retry POSTs
	for k, vs := range header {
		rc.Header[k] = append([]string(nil), vs...)
	}
	rc.OnAfterResponse(func(_ *resty.Client, r *resty.Response) error {
		if r.IsSuccess() {
			return nil
		}
		return c.statusError(r.RawResponse, r.Body())
	})
	c.rc = rc
	return c
}

func withDefaults(o Options) Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

// R returns a resty request bound to ctx, for building any call: set
// headers, query, body, SetResult, then Get/Post/... The retry, token and
// host policy apply underneath; a non-2xx answer comes back as a
// *StatusError (with the *resty.Response alongside). POST and PATCH are not
// retried after a 5xx or network error unless marked with Idempotent.
// resty reads an io.Reader body fully into memory, which makes it replayable;
// stream large uploads with Send instead. Do not use SetDoNotParseResponse
// for large downloads either: the per-attempt Timeout then still covers the
// body; use Stream. Transport failures come wrapped in net/http's *url.Error,
// which quotes the URL as given: pass pre-authenticated links (SAS, download
// URLs) to Stream or GetJSON, whose errors redact them.
func (c *Client) R(ctx context.Context) *resty.Request {
	return c.rc.R().SetContext(ctx)
}

// Idempotent marks req safe to retry after a 5xx, timeout or network error
// although its method is not idempotent: an OData $batch of reads, or a
// create with a client-supplied key the server deduplicates. It returns req.
func (c *Client) Idempotent(req *resty.Request) *resty.Request {
	return req.SetContext(withIdempotent(req.Context()))
}

// resolve turns a request URL into an absolute one the way resty does:
// absolute URLs are kept, others are appended to BaseURL.
func (c *Client) resolve(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("httpx: parse URL %s: %w", redactRawURL(raw), err)
	}
	if u.IsAbs() {
		return u, nil
	}
	if c.baseURL == "" {
		return nil, fmt.Errorf("httpx: relative URL %s and no BaseURL", redactURL(u))
	}
	joined := strings.TrimRight(c.baseURL, "/") + "/" + strings.TrimLeft(raw, "/")
	u, err = url.Parse(joined)
	if err != nil {
		return nil, fmt.Errorf("httpx: parse URL %s: %w", redactRawURL(joined), err)
	}
	return u, nil
}

// statusError turns a final non-2xx response into a *StatusError, scrubbing
// the current token from the body in case the server echoes it.
func (c *Client) statusError(resp *http.Response, body []byte) *StatusError {
	var secret string
	if c.tokens != nil {
		secret = c.tokens.cached()
	}
	return newStatusError(resp.Request.Method, resp.Request.URL, resp, body, c.t.now(), secret)
}

// cleanError replaces net/http's *url.Error wrapper, which quotes the full
// URL, with one that names the redacted URL.
func cleanError(method string, err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	var ra *RetryAfterError
	if errors.As(ue.Err, &ra) {
		return ue.Err // its StatusError already names the request
	}
	return fmt.Errorf("%s %s: %w", method, redactRawURL(ue.URL), ue.Err)
}

// restyLogger sends resty's own messages to hclog.
type restyLogger struct{ l hclog.Logger }

func (r restyLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r restyLogger) Warnf(format string, v ...any)  { r.l.Warn(fmt.Sprintf(format, v...)) }
func (r restyLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
