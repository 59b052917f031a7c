// Package httpx is the HTTP client every synchub connector uses to call its
// back end's REST API, so that a partner never writes retry, throttling or
// token code.
//
// A [Client] wraps a resty client for building requests ([Client.R]) but owns
// the policy underneath it, in an http.RoundTripper that every request goes
// through (resty requests, [Client.Stream], [Client.Send] and [Client.GetJSON]
// alike):
//
//   - Retries: network errors, timeouts and 500/502/503/504 are retried only
//     for idempotent requests (GET, HEAD, PUT, DELETE, OPTIONS, or a request
//     marked with [Client.Idempotent]); a POST or PATCH that may have been
//     applied is never sent twice. 429 means the server did not process the
//     request, so it is retried for every method. resty's own retry loop is
//     left off: it would retry POSTs and ignore Retry-After.
//   - Waits: 429 and 503 honour Retry-After (seconds or HTTP-date, or a JSON
//     body's retry_after as Dropbox sends it); otherwise exponential backoff
//     with full jitter. A wait longer than Options.MaxRetryAfter, or one that
//     would outlive the context's deadline, is not slept: the caller gets a
//     [*RetryAfterError] and can reschedule.
//   - Tokens: with Options.TokenSource every request to a trusted host gets
//     "Authorization: Bearer"; a 401 drops the cached token, fetches a new one
//     and retries once.
//   - Hosts: an absolute URL (an OData nextLink, a download link) must be on
//     the BaseURL's host or in Options.AllowedHosts, so a link pointing
//     elsewhere never receives the bearer token. Redirects the server sends to
//     another host are followed without the token.
//   - Errors: a non-2xx answer becomes a [*StatusError] carrying the first
//     4 KiB of the body; URLs in errors and logs have secret-looking query
//     values redacted; Authorization headers and tokens never appear in them.
//
// The package must not know any connector: no Dynamics, Dropbox or OData
// specifics beyond the generic HTTP conventions above, and no imports of the
// host or of sdk packages above it. Connectors configure it with data
// (Options) and build requests with resty.
package httpx
