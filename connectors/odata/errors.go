package odata

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// ServiceError is an OData error answer: its status and the error body's
// code and message.
type ServiceError struct {
	Status  int
	Code    string
	Message string
	// OData is false when the body was not an OData error body (an HTML
	// page, garbage); Message then quotes its start.
	OData bool
}

// Error reads "412 0x80060882: The version of the existing record …".
func (e *ServiceError) Error() string {
	status := strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" && !e.OData {
		status += " " + t
	}
	if e.Code != "" {
		return fmt.Sprintf("%s %s: %s", status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s", status, e.Message)
}

// ParseError reads an error answer's body: OData 4's
// `{"error":{"code","message"}}`, OData 3's `{"odata.error":{"code",
// "message":{"lang","value"}}}`, or anything else (an HTML error page from
// a gateway, garbage), which gives a message quoting the body's start.
// It never fails.
func ParseError(status int, body []byte) *ServiceError {
	var env struct {
		Error   *errorBody `json:"error"`
		ErrorV3 *errorBody `json:"odata.error"`
	}
	if json.Unmarshal(body, &env) == nil {
		e := env.Error
		if e == nil {
			e = env.ErrorV3
		}
		if e != nil && (e.Code != "" || e.message() != "") {
			return &ServiceError{Status: status, Code: e.Code, Message: e.message(), OData: true}
		}
	}
	msg := "the service answered without an OData error body"
	if s := snippet(body); s != "" {
		msg += ": " + s
	}
	return &ServiceError{Status: status, Message: msg}
}

type errorBody struct {
	Code    string          `json:"code"`
	Message json.RawMessage `json:"message"`
}

// message reads "message" as a string or as OData 3's {"lang","value"}.
func (e *errorBody) message() string {
	var s string
	if json.Unmarshal(e.Message, &s) == nil {
		return s
	}
	var v struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(e.Message, &v) == nil {
		return v.Value
	}
	return ""
}

// SDKError turns a failed call into an *sdk.Error the hub can act on,
// with summary saying what was being done ("fetch account"). The service's
// error body becomes the detail; the code follows the status (CodeFor);
// throttling keeps the server's Retry-After; a body that is not OData, a
// link to another host and malformed JSON are bad responses; a token the
// identity provider refused is an auth error; network failures are
// unavailable (the host retries). An *sdk.Error passes through unchanged.
func SDKError(summary string, err error) error {
	var sdkErr *sdk.Error
	var ra *httpx.RetryAfterError
	var se *httpx.StatusError
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &sdkErr):
		return err
	case errors.As(err, &ra):
		detail := err.Error()
		if errors.As(ra.Err, &se) {
			detail = ParseError(se.StatusCode, se.Body).Error()
		}
		return &sdk.Error{Code: sdk.CodeThrottled, Summary: summary, Detail: detail, RetryAfter: ra.After, Err: err}
	case errors.As(err, &se):
		return &sdk.Error{Code: CodeFor(se.StatusCode), Summary: summary, Detail: ParseError(se.StatusCode, se.Body).Error(),
			RetryAfter: se.RetryAfter, Err: err}
	case errors.As(err, &re):
		return &sdk.Error{Code: sdk.CodeAuth, Summary: summary, Detail: TokenErrorDetail(re), Err: err}
	case errors.Is(err, httpx.ErrHostNotAllowed), errors.Is(err, ErrBadBody), errors.Is(err, httpx.ErrNotJSON):
		return &sdk.Error{Code: sdk.CodeBadResponse, Summary: summary, Detail: err.Error(), Err: err}
	}
	return &sdk.Error{Code: sdk.CodeUnavailable, Summary: summary, Detail: err.Error(), Err: err}
}

// TokenErrorDetail describes an identity provider's refusal: its status,
// error code and description (Entra ID's AADSTS… text), never the request.
func TokenErrorDetail(re *oauth2.RetrieveError) string {
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" && desc == "" {
		desc = snippet(re.Body)
	}
	if i := strings.Index(desc, "\r\n"); i > 0 {
		desc = desc[:i] // Entra appends trace and correlation ids on new lines
	}
	return strings.TrimSpace(fmt.Sprintf("the token endpoint answered %d %s: %s", status, code, desc))
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
	case status == http.StatusRequestTimeout || status >= 500:
		return sdk.CodeUnavailable
	}
	return sdk.CodeInvalidRequest
}

// RetryAfter reads a Retry-After header given in seconds (0 when absent).
func RetryAfter(h http.Header) time.Duration {
	s, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After")), 64)
	if err != nil || s <= 0 || s > 24*3600 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
