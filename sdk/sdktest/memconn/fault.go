package memconn

import (
	"fmt"
	"slices"
	"time"

	"github.com/synchub/synchub/sdk"
)

// FaultKind is how an injected fault fails a call.
type FaultKind string

// The fault kinds.
const (
	// FaultError fails the call before it does anything, with CodeUnavailable.
	FaultError FaultKind = "error"
	// FaultAfterApply (upload only) applies the batch, then fails with
	// CodeUnavailable: the back end did the work but its answer was lost.
	FaultAfterApply FaultKind = "after_apply"
	// FaultThrottle fails the call with CodeThrottled and RetryAfterMS.
	FaultThrottle FaultKind = "throttle"
)

// The calls a fault can target.
var faultCalls = []string{"check", "fetch", "deletions", "list_ids", "upload", "list_files", "read_file", "write_file", "resolve_user"}

// Fault makes calls fail on purpose, to test how the host retries and
// recovers. Configure takes a list of them as "fail"; SetFault sets them
// from Go.
type Fault struct {
	// Call is the call to fail: check, fetch, deletions, list_ids, upload,
	// list_files, read_file, write_file or resolve_user.
	Call string    `json:"call"`
	Kind FaultKind `json:"kind"`
	// Times is how many calls fail; 0 fails every call until the fault is
	// cleared.
	Times int `json:"times,omitempty"`
	// AfterPages (fetch only) lets this many pages of a pass through before
	// the fault trips, to interrupt a pass in the middle.
	AfterPages int `json:"after_pages,omitempty"`
	// RetryAfterMS is the throttle's Retry-After, in milliseconds.
	RetryAfterMS int `json:"retry_after_ms,omitempty"`
}

func (f Fault) validate() error {
	bad := func(format string, args ...any) error {
		return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: "fail", Summary: fmt.Sprintf(format, args...)}
	}
	switch {
	case !slices.Contains(faultCalls, f.Call):
		return bad("fault call %q is not one of %v", f.Call, faultCalls)
	case f.Kind != FaultError && f.Kind != FaultAfterApply && f.Kind != FaultThrottle:
		return bad("fault kind %q is not error, after_apply or throttle", f.Kind)
	case f.Kind == FaultAfterApply && f.Call != "upload":
		return bad("fault kind after_apply is for call upload only")
	case f.AfterPages > 0 && f.Call != "fetch":
		return bad("after_pages is for call fetch only")
	case f.Times < 0 || f.AfterPages < 0 || f.RetryAfterMS < 0:
		return bad("fault numbers must not be negative")
	}
	return nil
}

// SetFault replaces the injected faults; with none it clears them. It panics
// on an invalid fault: it is a test hook.
func (m *Connector) SetFault(faults ...Fault) {
	for _, f := range faults {
		if err := f.validate(); err != nil {
			panic(err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = slices.Clone(faults)
}

// trip uses up the first fault armed for call (at page, for fetch) and
// returns its kind and the error the call must return.
func (m *Connector) trip(call string, page int) (FaultKind, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, f := range m.faults {
		if f.Call != call || f.AfterPages != page {
			continue
		}
		if f.Times > 0 {
			if m.faults[i].Times--; m.faults[i].Times == 0 {
				m.faults = slices.Delete(m.faults, i, i+1)
			}
		}
		err := &sdk.Error{Code: sdk.CodeUnavailable, Summary: "memconn: injected failure of " + call}
		switch f.Kind {
		case FaultAfterApply:
			err.Summary = "memconn: injected failure after the upload was applied (the answer was lost)"
		case FaultThrottle:
			err.Code, err.Summary = sdk.CodeThrottled, "memconn: injected throttling of "+call
			err.RetryAfter = time.Duration(f.RetryAfterMS) * time.Millisecond
		}
		return f.Kind, err
	}
	return "", nil
}
