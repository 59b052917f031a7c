package client

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers branch on, with errors.Is.
var (
	// ErrNotLoggedIn: no credentials are saved.
	ErrNotLoggedIn = errors.New("not logged in")
	// ErrSessionExpired: the hub refused the refresh token; log in again.
	ErrSessionExpired = errors.New("session expired")
	// ErrUnreachable: the hub could not be reached (no network, wrong URL,
	// hub down).
	ErrUnreachable = errors.New("hub unreachable")
	// ErrNotFound: no such record, file, source or sync error locally.
	ErrNotFound = errors.New("not found")
	// ErrUnknownEntity: the entity is not in the source's schema.
	ErrUnknownEntity = errors.New("unknown entity")
	// ErrInvalidField: a field name or value does not fit the schema.
	ErrInvalidField = errors.New("invalid field")
	// ErrReadOnly: the entity or field is read-only.
	ErrReadOnly = errors.New("read-only")
	// ErrNoSchema: the source's schema is not known yet (sync first).
	ErrNoSchema = errors.New("no schema")
	// ErrCorrupt: the local store is damaged or not a synchub-device store.
	ErrCorrupt = errors.New("local store is damaged")
	// ErrOtherAccount: the store holds pending changes of another account.
	ErrOtherAccount = errors.New("store holds pending changes of another account")
	// ErrHashMismatch: downloaded file content does not match its hash.
	ErrHashMismatch = errors.New("content hash mismatch")
)

// APIError is an error answer of the hub: {"error": {"code", "message"}}.
type APIError struct {
	Status  int
	Code    string
	Message string
	// Op names the call, e.g. "GET /v1/sources".
	Op string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	if e.Code != "" {
		return fmt.Sprintf("%s: hub answered %d %s: %s", e.Op, e.Status, e.Code, msg)
	}
	return fmt.Sprintf("%s: hub answered %d: %s", e.Op, e.Status, msg)
}

// UnreachableError wraps a transport failure; it matches ErrUnreachable.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("hub unreachable at %s: %v", e.URL, e.Err)
}

// Unwrap returns the transport error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// EntityError reports an unknown entity with the ones that exist, so a
// user sees what they may have meant.
type EntityError struct {
	Source   string
	Entity   string
	Entities []string
}

func (e *EntityError) Error() string {
	return fmt.Sprintf("unknown entity '%s'; entities: %s", e.Entity, strings.Join(e.Entities, ", "))
}

// Is makes errors.Is(err, ErrUnknownEntity) true.
func (e *EntityError) Is(target error) bool { return target == ErrUnknownEntity }

// FieldError reports a field name or value that does not fit the schema.
type FieldError struct {
	Entity string
	Field  string
	// Type is the field's schema type ("" for an unknown field).
	Type string
	// Value is the offending text, when there is one.
	Value string
	// Reason says what is wrong, in words a user reads.
	Reason string
}

func (e *FieldError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrInvalidField) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidField }

// CorruptError says why the local store at Path cannot be used.
type CorruptError struct {
	Path   string
	Detail string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("local store %s is damaged: %s", e.Path, e.Detail)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
