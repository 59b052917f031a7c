package sdk

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrorCode classifies an error so the host can act on it.
type ErrorCode string

// The error codes.
const (
	CodeInvalidConfig  ErrorCode = "invalid_config"
	CodeAuth           ErrorCode = "auth"
	CodeUnknownEntity  ErrorCode = "unknown_entity"
	CodeUnknownField   ErrorCode = "unknown_field"
	CodeNotFound       ErrorCode = "not_found"
	CodeCursorExpired  ErrorCode = "cursor_expired"
	CodeThrottled      ErrorCode = "throttled"
	CodeUnavailable    ErrorCode = "unavailable"
	CodeUnsupported    ErrorCode = "unsupported"
	CodeBadResponse    ErrorCode = "bad_response"
	CodeInvalidRequest ErrorCode = "invalid_request"
	CodeInternal       ErrorCode = "internal"
)

// Error is an error a user should read: a summary, detail, and the entity or
// field it concerns. It crosses the plugin boundary intact.
type Error struct {
	Code       ErrorCode
	Summary    string
	Detail     string
	Entity     string
	Field      string
	RetryAfter time.Duration
	// Err is the cause, for errors.Unwrap inside one process; it does not
	// cross the plugin boundary (Detail does).
	Err error
}

// Error renders "summary (entity x, field y): detail".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Summary)
	if b.Len() == 0 {
		b.WriteString(string(e.Code))
	}
	switch {
	case e.Entity != "" && e.Field != "":
		fmt.Fprintf(&b, " (entity %s, field %s)", e.Entity, e.Field)
	case e.Entity != "":
		fmt.Fprintf(&b, " (entity %s)", e.Entity)
	case e.Field != "":
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	} else if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error by code, so errors.Is(err, ErrCursorExpired) works.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// Sentinels to test against with errors.Is.
var (
	ErrCursorExpired = &Error{Code: CodeCursorExpired, Summary: "cursor expired"}
	ErrUnsupported   = &Error{Code: CodeUnsupported, Summary: "not supported by this connector"}
	ErrNotFound      = &Error{Code: CodeNotFound, Summary: "not found"}
	ErrThrottled     = &Error{Code: CodeThrottled, Summary: "throttled by the back end"}
)

// Errorf makes an *Error with a formatted summary.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Summary: fmt.Sprintf(format, args...)}
}

// CodeOf returns err's code, or CodeInternal when err is not an *Error.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
