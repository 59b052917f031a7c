package sdk

import (
	"encoding/json"
	"time"
)

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
	// Raw is for the host, and connectors never see it: the fields as a
	// JSON object, which a Client that talks to a plugin process sends as
	// they are when Fields is nil (an in-process Client decodes them into
	// Fields first), so the host need not decode what it only passes on.
	Raw json.RawMessage
}

// FieldMap returns the op's fields: Fields, or Raw decoded (numbers as
// json.Number). A Client that hands ops to a connector in its own process
// uses it, since connectors read Fields only.
func (op Op) FieldMap() (map[string]any, error) {
	if op.Fields != nil || len(op.Raw) == 0 {
		return op.Fields, nil
	}
	m, err := decodeFieldsJSON(op.Raw)
	if err != nil {
		return nil, &Error{Code: CodeInvalidRequest, Entity: op.Entity, Summary: "mutation " + op.MutationID + " has malformed fields JSON", Detail: err.Error()}
	}
	return m, nil
}

// withFields returns op with Raw decoded into Fields.
func (op Op) withFields() (Op, error) {
	f, err := op.FieldMap()
	if err != nil {
		return op, err
	}
	op.Fields, op.Raw = f, nil
	return op, nil
}

// UploadRequest is a batch of ops.
type UploadRequest struct {
	Ops []Op
	// Atomic asks for all-or-nothing (only when the connector announces
	// AtomicBatches).
	Atomic bool
	// RawResults is for the host, and connectors ignore it: a Client that
	// talks to a plugin process then hands result records over with Raw
	// only (the JSON the plugin sent, checked to be an object) and Fields
	// nil, as FetchRequest.RawFields does for pages.
	RawResults bool
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
