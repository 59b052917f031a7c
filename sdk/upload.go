package sdk

import "time"

// OpKind is what a mutation does.
type OpKind string

// The op kinds.
const (
	OpCreate OpKind = "create"
	OpUpdate OpKind = "update"
	OpDelete OpKind = "delete"
)

// Op is one mutation to apply on the back end.
type Op struct {
	// MutationID is the device's idempotency key for this op.
	MutationID string
	Entity     string
	Kind       OpKind
	// ID is the record's id. For a create it is the id the device gave the
	// record; use it as the back end's key where possible, so a retried
	// create finds the record instead of making a second one.
	ID string
	// BaseVersion is the version the edit is based on. Apply an update or
	// delete only if the record still has it; "" means apply unconditionally.
	BaseVersion string
	// Fields: all fields for a create, the changed fields for an update.
	Fields map[string]any
}

// UploadRequest is a batch of ops.
type UploadRequest struct {
	Ops []Op
	// Atomic asks for all-or-nothing (only when the connector announces
	// AtomicBatches).
	Atomic bool
}

// OpStatus is the outcome of one op.
type OpStatus string

// The op outcomes.
const (
	// StatusApplied: done. Record holds the record as the back end stored it.
	StatusApplied OpStatus = "applied"
	// StatusConflict: BaseVersion is stale. Record holds the server's record.
	StatusConflict OpStatus = "conflict"
	// StatusNotFound: the record does not exist (deleted on the server).
	StatusNotFound OpStatus = "not_found"
	// StatusRejected: permanently refused; Message has the back end's reason.
	// MissingLookups names lookup fields whose targets do not exist (the host
	// then sends the op without them and sets them in a second pass).
	StatusRejected OpStatus = "rejected"
	// StatusRetry: transient; try again after RetryAfter.
	StatusRetry OpStatus = "retry"
)

// OpResult is the outcome of one op.
type OpResult struct {
	MutationID string
	Status     OpStatus
	// ID is the back end's id of the record (differs from Op.ID when the back
	// end assigned its own on create).
	ID             string
	Record         *Record
	Message        string
	RetryAfter     time.Duration
	MissingLookups []string
}

// UploadResponse holds one result per op.
type UploadResponse struct {
	Results []OpResult
}
