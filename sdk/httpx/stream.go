package httpx

import (
	"context"
	"io"
	"net/http"
)

// StreamRequest is a request whose bodies are not buffered: a download
// handed back unread, or an upload read straight from an io.Reader.
type StreamRequest struct {
	Method string
	// URL is absolute, or relative to BaseURL.
	URL string
	// Header is added to the Client's default headers (replacing same keys).
	Header http.Header
	// Body is sent as is, never buffered. A request with a Body is not
	// retried (a reader cannot be replayed) unless it is a *bytes.Buffer,
	// *bytes.Reader or *strings.Reader, which net/http can replay.
	Body io.Reader
	// NewBody, when set, replaces Body: it is called for every attempt and
	// must return the same content each time (reopen a file, seek a
	// section). It makes the upload retryable under the usual rules.
	NewBody func() (io.ReadCloser, error)
	// ContentLength is the body's size; 0 means unknown (chunked). Upload
	// sessions (OneDrive, SharePoint) need it.
	ContentLength int64
	// Idempotent marks a POST or PATCH safe to retry, as Client.Idempotent.
	Idempotent bool
}

// Stream sends a body-less request (typically GET of a file's content) under
// the same host, token and retry rules as R, and returns the response with
// its body unread; the caller must close it. The per-attempt Timeout covers
// only the wait for the response headers, so a long download is bounded by
// ctx alone. A non-2xx answer is returned as a *StatusError.
func (c *Client) Stream(ctx context.Context, method, url string, hdr http.Header) (*http.Response, error) {
	return c.Send(ctx, StreamRequest{Method: method, URL: url, Header: hdr})
}

// Send is Stream with an optional unbuffered request body (uploads). Unlike
// resty, which reads an io.Reader body fully into memory, Send streams it.
// See StreamRequest for which uploads are retried.
func (c *Client) Send(ctx context.Context, sr StreamRequest) (*http.Response, error) {
	method := sr.Method
	if method == "" {
		method = http.MethodGet
	}
	u, err := c.resolve(sr.URL)
	if err != nil {
		return nil, err
	}
	body := sr.Body
	if sr.NewBody != nil {
		b, err := sr.NewBody()
		if err != nil {
			return nil, err
		}
		body = b
	}
	ctx = withStreaming(ctx)
	if sr.Idempotent {
		ctx = withIdempotent(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		if b, ok := body.(io.Closer); ok && sr.NewBody != nil {
			_ = b.Close()
		}
		return nil, cleanError(method, err)
	}
	if sr.NewBody != nil {
		req.GetBody = sr.NewBody
	}
	if sr.ContentLength > 0 {
		req.ContentLength = sr.ContentLength
	}
	req.Header = c.header.Clone()
	for k, vs := range sr.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, cleanError(method, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		drain(resp)
		return nil, c.statusError(resp, head)
	}
	return resp, nil
}
