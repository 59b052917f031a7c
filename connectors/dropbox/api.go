package dropbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/synchub/synchub/connectors/dropbox/headerjson"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// rpc POSTs args as JSON to an RPC route (api_url/2/<route>) and decodes
// the JSON answer into out. A route without arguments gets nil args and is
// sent with no body and no Content-Type, as Dropbox requires. RPC calls the
// connector makes are reads, or writes Dropbox makes idempotent for us
// (create_folder of an existing folder is a conflict we accept), so they
// are retried after 5xx and network errors as well as 429.
func (st *configured) rpc(ctx context.Context, route string, args, out any) error {
	req := st.http.Idempotent(st.http.R(ctx))
	if args != nil {
		body, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("dropbox %s: encode arguments: %w", route, err)
		}
		req.SetHeader("Content-Type", "application/json").SetBody(body)
	}
	resp, err := req.Post("/2/" + route)
	if err != nil {
		return callError(route, err)
	}
	if out == nil {
		return nil
	}
	if ct := resp.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return &sdk.Error{Code: sdk.CodeBadResponse, Summary: fmt.Sprintf("dropbox %s answered %s, not JSON", route, orNone(ct)),
			Detail: snippet(resp.Body())}
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return &sdk.Error{Code: sdk.CodeBadResponse, Summary: fmt.Sprintf("dropbox %s answered malformed JSON", route),
			Detail: err.Error() + ": " + snippet(resp.Body()), Err: err}
	}
	return nil
}

// contentHeader returns the headers of a content route call: the
// arguments as header-safe JSON in Dropbox-API-Arg.
func contentHeader(route string, args any) (http.Header, error) {
	arg, err := headerjson.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("dropbox %s: %w", route, err)
	}
	return http.Header{"Dropbox-API-Arg": {arg}}, nil
}

// apiFailure is Dropbox's JSON error body.
type apiFailure struct {
	Summary string          `json:"error_summary"`
	Error   json.RawMessage `json:"error"`
}

// endpointError returns the error_summary of a 409 (an endpoint-specific
// error such as "path/not_found/.."), ok false for anything else.
func endpointError(err error) (summary string, ok bool) {
	var se *httpx.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusConflict {
		return "", false
	}
	var f apiFailure
	if json.Unmarshal(se.Body, &f) != nil || f.Summary == "" {
		return "", false
	}
	return f.Summary, true
}

// hasTag reports whether an error_summary starts with the tag path want
// ("path/not_found"): summaries end in "/" and dots for uniqueness, so
// they are matched by prefix, a whole component at a time.
func hasTag(summary, want string) bool {
	return summary == want || strings.HasPrefix(summary, want+"/")
}

// callError turns a failed call into an *sdk.Error the host can act on.
func callError(route string, err error) error {
	var ra *httpx.RetryAfterError
	if errors.As(err, &ra) {
		return &sdk.Error{Code: sdk.CodeThrottled, Summary: fmt.Sprintf("dropbox %s: throttled", route),
			RetryAfter: ra.After, Detail: ra.Error(), Err: err}
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return &sdk.Error{Code: sdk.CodeAuth, Summary: fmt.Sprintf("dropbox %s: the token endpoint refused the refresh token (%s)", route, orNone(re.ErrorCode)),
			Detail: re.ErrorDescription, Err: err}
	}
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("dropbox %s: %w", route, err)
		}
		return &sdk.Error{Code: sdk.CodeUnavailable, Summary: fmt.Sprintf("dropbox %s: no answer", route), Detail: err.Error(), Err: err}
	}
	var f apiFailure
	jsonBody := json.Unmarshal(se.Body, &f) == nil && f.Summary != ""
	detail := snippet(se.Body)
	e := &sdk.Error{Err: err, Detail: detail}
	switch code := se.StatusCode; {
	case code == http.StatusBadRequest:
		// Plain text, never JSON: Dropbox could not parse the call.
		e.Code, e.Summary = sdk.CodeInvalidRequest, fmt.Sprintf("dropbox %s refused the call as malformed", route)
	case code == http.StatusUnauthorized:
		e.Code, e.Summary = sdk.CodeAuth, fmt.Sprintf("dropbox %s: the access token was refused (%s)", route, orNone(trimSummary(f.Summary)))
	case code == http.StatusForbidden:
		e.Code, e.Summary = sdk.CodeAuth, fmt.Sprintf("dropbox %s: no access (%s)", route, orNone(trimSummary(f.Summary)))
	case code == http.StatusConflict && jsonBody:
		e.Code, e.Summary = sdk.CodeInvalidRequest, fmt.Sprintf("dropbox %s: %s", route, trimSummary(f.Summary))
	case code == http.StatusTooManyRequests:
		e.Code, e.Summary, e.RetryAfter = sdk.CodeThrottled, fmt.Sprintf("dropbox %s: throttled", route), se.RetryAfter
	case code >= 500:
		e.Code, e.Summary = sdk.CodeUnavailable, fmt.Sprintf("dropbox %s: server error %d", route, code)
	default:
		e.Code, e.Summary = sdk.CodeBadResponse, fmt.Sprintf("dropbox %s: unexpected status %d", route, code)
	}
	return e
}

// trimSummary drops the trailing "/..." of an error_summary.
func trimSummary(s string) string { return strings.TrimRight(s, "/.") }

// withContext prefixes an error's summary with what the connector was
// doing, keeping its code.
func withContext(err error, op string) error {
	var se *sdk.Error
	if errors.As(err, &se) {
		cp := *se
		cp.Summary = op + ": " + se.Summary
		return &cp
	}
	return fmt.Errorf("%s: %w", op, err)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// snippet is the start of a body for an error message, on one line.
func snippet(b []byte) string {
	const max = 300
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
