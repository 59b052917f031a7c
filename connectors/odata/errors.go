package odata

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// ServiceError is the OData JSON error body's content.
type ServiceError struct {
	Status  int
	Code    string
	Message string
}

func (e *ServiceError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Message)
}

// ParseError reads an OData error body `{"error":{"code","message"}}`. A
// body that is not one (an HTML error page, garbage) gives a message with a
// short snippet of it.
func ParseError(status int, body []byte) *ServiceError {
	var env struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		return &ServiceError{Status: status, Code: env.Error.Code, Message: env.Error.Message}
	}
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	if snippet == "" {
		snippet = http.StatusText(status)
	}
	return &ServiceError{Status: status, Message: "the service answered something that is not an OData error body: " + snippet}
}

// SDKError turns a failed call into an *sdk.Error the hub can act on.
func SDKError(summary string, err error) error {
	var se *httpx.StatusError
	var ra *httpx.RetryAfterError
	switch {
	case errors.As(err, &ra):
		return &sdk.Error{Code: sdk.CodeThrottled, Summary: summary, Detail: err.Error(), RetryAfter: ra.After, Err: err}
	case errors.As(err, &se):
		e := ParseError(se.StatusCode, se.Body)
		return &sdk.Error{Code: CodeFor(se.StatusCode), Summary: summary, Detail: e.Error(), RetryAfter: se.RetryAfter, Err: e}
	}
	var sdkErr *sdk.Error
	if errors.As(err, &sdkErr) {
		return err
	}
	return &sdk.Error{Code: sdk.CodeUnavailable, Summary: summary, Detail: err.Error(), Err: err}
}

// CodeFor maps an HTTP status to an sdk error code.
func CodeFor(status int) sdk.ErrorCode {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return sdk.CodeAuth
	case status == http.StatusNotFound:
		return sdk.CodeNotFound
	case status == http.StatusTooManyRequests:
		return sdk.CodeThrottled
	case status >= 500:
		return sdk.CodeUnavailable
	}
	return sdk.CodeInvalidRequest
}

// RetryAfter parses a Retry-After header in seconds (0 when absent).
func RetryAfter(h http.Header) time.Duration {
	var s int
	if _, err := fmt.Sscanf(h.Get("Retry-After"), "%d", &s); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}
