package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"
)

// refreshSkew refreshes an access token this long before it expires, so a
// request never leaves with a token about to die in flight.
const refreshSkew = 30 * time.Second

// account returns the saved login, or ErrNotLoggedIn.
func (c *Client) account(ctx context.Context) (*accountRow, error) {
	var rows []accountRow
	if err := c.db.WithContext(ctx).Where("id = 1").Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	if len(rows) == 0 || rows[0].HubURL == "" || rows[0].RefreshToken == "" && rows[0].AccessToken == "" {
		return nil, ErrNotLoggedIn
	}
	return &rows[0], nil
}

// accountKey carries an account read ahead in a request's context (see
// withAccount).
type accountKey struct{}

// withAccount makes a request on ctx start from acct instead of reading
// the account from the store: a request made while a transaction holds the
// store's one connection (the download's next page, fetched while this one
// is applied) need not wait for it. A refresh still reads the store.
func withAccount(ctx context.Context, acct *accountRow) context.Context {
	return context.WithValue(ctx, accountKey{}, acct)
}

// accountOf returns a copy of the account withAccount put in ctx, or nil.
func accountOf(ctx context.Context) *accountRow {
	a, ok := ctx.Value(accountKey{}).(*accountRow)
	if !ok || a == nil {
		return nil
	}
	cp := *a
	return &cp
}

// requestBuilder makes a fresh request for the given account: called again
// for the retry after a refresh, so bodies must be replayable.
type requestBuilder func(ctx context.Context, acct *accountRow) (*http.Request, error)

// authed sends a request with the access token, refreshing it first when it
// is about to expire and once more (then retrying) when the hub answers 401.
// The caller closes the response body.
func (c *Client) authed(ctx context.Context, build requestBuilder) (*http.Response, error) {
	acct := accountOf(ctx)
	var err error
	if acct == nil {
		if acct, err = c.account(ctx); err != nil {
			return nil, err
		}
	}
	if !acct.ExpiresAt.IsZero() && c.now().Add(refreshSkew).After(acct.ExpiresAt) {
		if acct, err = c.refresh(ctx, acct.AccessToken); err != nil {
			return nil, err
		}
	}
	resp, err := c.sendAuthed(ctx, acct, build)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	drain(resp)
	if acct, err = c.refresh(ctx, acct.AccessToken); err != nil {
		return nil, err
	}
	return c.sendAuthed(ctx, acct, build)
}

func (c *Client) sendAuthed(ctx context.Context, acct *accountRow, build requestBuilder) (*http.Response, error) {
	req, err := build(ctx, acct)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+acct.AccessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportErr(ctx, acct.HubURL, err)
	}
	return resp, nil
}

// transportErr wraps a failed round trip: a cancelled context stays itself,
// anything else means the hub is unreachable.
func transportErr(ctx context.Context, hub string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &UnreachableError{URL: hub, Err: unwrapURLErr(err)}
}

func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// refresh trades the refresh token for new tokens. Refresh tokens rotate on
// every use, so refreshes are serialised and the new pair is saved before
// anyone uses it; a caller whose stale token another goroutine already
// replaced just gets the current account.
func (c *Client) refresh(ctx context.Context, staleAccess string) (*accountRow, error) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	acct, err := c.account(ctx)
	if err != nil {
		return nil, err
	}
	if acct.AccessToken != staleAccess && (acct.ExpiresAt.IsZero() || c.now().Add(refreshSkew).Before(acct.ExpiresAt)) {
		return acct, nil
	}
	if acct.RefreshToken == "" {
		return nil, ErrSessionExpired
	}
	var tok wireTokens
	err = c.postJSON(ctx, acct.HubURL, "/v1/auth/refresh", wireRefreshRequest{RefreshToken: acct.RefreshToken}, &tok)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusBadRequest || apiErr.Status == http.StatusForbidden) {
		c.log.Warn("refresh token refused", "status", apiErr.Status, "code", apiErr.Code)
		return nil, fmt.Errorf("%w: %s", ErrSessionExpired, apiErr.Message)
	}
	if err != nil {
		return nil, fmt.Errorf("refresh token: %w", err)
	}
	if err := c.saveTokens(ctx, acct, tok); err != nil {
		return nil, err
	}
	c.log.Debug("access token refreshed", "expires_at", acct.ExpiresAt)
	return acct, nil
}

// saveTokens stores a new token pair in acct and in the store, in one
// statement, before anything uses it.
func (c *Client) saveTokens(ctx context.Context, acct *accountRow, tok wireTokens) error {
	if tok.AccessToken == "" {
		return errors.New("hub answered without an access token")
	}
	acct.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		acct.RefreshToken = tok.RefreshToken
	}
	acct.ExpiresAt = time.Time{}
	if tok.ExpiresIn > 0 {
		acct.ExpiresAt = c.now().Add(time.Duration(tok.ExpiresIn) * time.Second).UTC()
	}
	acct.UpdatedAt = c.now().UTC()
	err := c.db.WithContext(ctx).Model(&accountRow{}).Where("id = 1").Updates(map[string]any{
		"access_token": acct.AccessToken, "refresh_token": acct.RefreshToken,
		"expires_at": acct.ExpiresAt, "updated_at": acct.UpdatedAt,
	}).Error
	if err != nil {
		return fmt.Errorf("save tokens: %w", err)
	}
	return nil
}

// postJSON is an unauthenticated JSON POST (login and refresh).
func (c *Client) postJSON(ctx context.Context, hub, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return transportErr(ctx, hub, err)
	}
	defer drain(resp)
	return decodeResponse("POST "+path, resp, out)
}

// callJSON makes an authenticated JSON call: in (when not nil) is the
// body, out (when not nil) receives the answer.
func (c *Client) callJSON(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	resp, err := c.authed(ctx, func(ctx context.Context, acct *accountRow) (*http.Request, error) {
		u := acct.HubURL + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, r)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return err
	}
	defer drain(resp)
	return decodeResponse(method+" "+path, resp, out)
}

func decodeResponse(op string, resp *http.Response, out any) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readAPIError(op, resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

// readAPIError turns a non-2xx answer into an *APIError, reading the
// {"error": {"code", "message"}} body when there is one.
func readAPIError(op string, resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Status: resp.StatusCode, Op: op}
	var body wireErrorBody
	if json.Unmarshal(data, &body) == nil && (body.Error.Code != "" || body.Error.Message != "") {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else {
		e.Message = strings.TrimSpace(clipText(string(data), 200))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	return e
}

// drain reads what is left of a body (so the connection is reused) and
// closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

func sourcePath(source, rest string) string {
	return "/v1/sources/" + url.PathEscape(source) + rest
}

// isNotFoundAPI reports a 404 answer.
func isNotFoundAPI(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// txn runs fn in one write transaction.
func (c *Client) txn(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return c.db.WithContext(ctx).Transaction(fn)
}

func urlPathEscape(s string) string { return url.PathEscape(s) }
