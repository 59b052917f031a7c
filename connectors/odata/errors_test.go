package odata

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

func TestDocumentedErrorBodiesParse(t *testing.T) {
	for _, tc := range []struct {
		file, code, message string
	}{
		{"error-400-validation-in-batch.json", "0x80044331", "exceeded the maximum allowed length of '200'"},
		{"error-404-upsert-if-match-star.json", "", "account With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist"},
		{"error-412-concurrency.json", "", "doesn't match the RowVersion property provided"},
		{"error-412-duplicate-if-none-match-star.json", "", "A record with matching key values already exists."},
	} {
		t.Run(tc.file, func(t *testing.T) {
			e := ParseError(412, fixture(t, tc.file))
			if !e.OData || e.Code != tc.code || !strings.Contains(e.Message, tc.message) {
				t.Errorf("ParseError = %+v, want code %q and a message with %q", e, tc.code, tc.message)
			}
		})
	}
}

func TestErrorBodiesThatAreNotODataGiveAClearMessage(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"an_html_gateway_page", "<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"},
		{"truncated_json", `{"error":{"code":"0x1","mess`, `{"error":{"code":"0x1","mess`},
		{"an_empty_body", "", "without an OData error body"},
		{"json_of_another_shape", `{"message":"nope"}`, `{"message":"nope"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ParseError(502, []byte(tc.body))
			if e.OData || !strings.Contains(e.Error(), tc.want) || !strings.Contains(e.Error(), "502") {
				t.Errorf("ParseError(%q) = %q, want it to mention %q", tc.body, e.Error(), tc.want)
			}
		})
	}
	e := ParseError(400, []byte(`{"odata.error":{"code":"-1","message":{"lang":"en-US","value":"OData 3 says no"}}}`))
	if !e.OData || e.Message != "OData 3 says no" {
		t.Errorf("an OData 3 error body: %+v", e)
	}
}

type staticToken string

func (s staticToken) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: string(s), Expiry: time.Now().Add(time.Hour)}, nil
}

func TestSDKErrorClassifiesFailures(t *testing.T) {
	status := func(code int, body string) error {
		return &httpx.StatusError{Method: "GET", URL: "https://h/x", StatusCode: code, Body: []byte(body)}
	}
	for _, tc := range []struct {
		name  string
		err   error
		code  sdk.ErrorCode
		want  string
		after time.Duration
	}{
		{"a_404_is_not_found", status(404, `{"error":{"code":"0x80040217","message":"account With Id = 1 Does Not Exist"}}`), sdk.CodeNotFound, "Does Not Exist", 0},
		{"a_401_is_auth", status(401, `{"error":{"code":"0x8005F101","message":"requires authentication"}}`), sdk.CodeAuth, "requires authentication", 0},
		{"a_503_is_unavailable", status(503, "<html>down</html>"), sdk.CodeUnavailable, "down", 0},
		{"a_400_is_an_invalid_request", status(400, `{"error":{"code":"0x80060888","message":"Skip Clause is not supported in CRM"}}`), sdk.CodeInvalidRequest, "Skip Clause", 0},
		{"throttling_keeps_its_wait", &httpx.RetryAfterError{After: 7 * time.Second, Err: status(429, `{"error":{"code":"0x80072322","message":"Number of requests exceeded"}}`)},
			sdk.CodeThrottled, "Number of requests exceeded", 7 * time.Second},
		{"a_bad_body_is_a_bad_response", fmt.Errorf("GET x: %w", ErrBadBody), sdk.CodeBadResponse, "malformed", 0},
		{"a_refused_token_is_auth", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 401}, ErrorCode: "invalid_client",
			ErrorDescription: "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}, sdk.CodeAuth, "AADSTS7000215", 0},
		{"a_network_failure_is_unavailable", io.ErrUnexpectedEOF, sdk.CodeUnavailable, "unexpected EOF", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := SDKError("do the thing", tc.err)
			var se *sdk.Error
			if !errors.As(err, &se) || se.Code != tc.code || !strings.Contains(se.Error(), tc.want) || se.RetryAfter != tc.after {
				t.Errorf("SDKError = %v (%+v), want code %s mentioning %q, retry after %s", err, se, tc.code, tc.want, tc.after)
			}
			if !strings.HasPrefix(se.Error(), "do the thing") {
				t.Errorf("the message %q does not start with the summary", se.Error())
			}
		})
	}
	orig := &sdk.Error{Code: sdk.CodeUnknownField, Field: "x"}
	if SDKError("s", orig) != error(orig) {
		t.Error("an *sdk.Error must pass through unchanged")
	}
}
