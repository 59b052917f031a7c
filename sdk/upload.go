package sdk

import (
	"bytes"
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
	// Nil for a RawFieldsUploader, which reads Raw.
	Fields map[string]any
	// Raw is the fields as a JSON object. The host sets it (with Fields
	// nil), and a Client that talks to a plugin process sends it as it is,
	// so the host need not decode what it only passes on. A connector sees
	// it only if it is a RawFieldsUploader: the SDK hands every other
	// connector the fields decoded into Fields and Raw nil.
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

// RawFields returns the op's fields as a JSON object: Raw, or Fields
// encoded ("{}" when it has none). A RawFieldsUploader reads them with
// it, which also serves a caller that hands it ops with Fields.
func (op Op) RawFields() (json.RawMessage, error) {
	switch {
	case op.Fields != nil:
		raw, err := json.Marshal(op.Fields)
		if err != nil {
			return nil, &Error{Code: CodeInvalidRequest, Entity: op.Entity, Summary: "mutation " + op.MutationID + " has fields that cannot be encoded as JSON", Detail: err.Error()}
		}
		return raw, nil
	case len(op.Raw) == 0:
		return json.RawMessage("{}"), nil
	}
	return op.Raw, nil
}

// withRaw returns op with its fields in Raw only, checked to be a JSON
// object (encoded from Fields if the host gave a map), for a
// RawFieldsUploader.
func (op Op) withRaw() (Op, error) {
	if op.Fields != nil {
		raw, err := op.RawFields()
		op.Fields, op.Raw = nil, raw
		return op, err
	}
	t := bytes.TrimSpace(op.Raw)
	if len(t) == 0 || string(t) == "null" { // no fields, as a Client sends a nil Fields
		op.Raw = nil
		return op, nil
	}
	if !isJSONObject(t) {
		return op, &Error{Code: CodeInvalidRequest, Entity: op.Entity, Summary: "mutation " + op.MutationID + " has malformed fields JSON", Detail: "not a JSON object"}
	}
	return op, nil
}

// forConnector returns op as connector u reads it: Raw for a
// RawFieldsUploader, Fields for any other.
func (op Op) forConnector(u Uploader) (Op, error) {
	if _, raw := u.(RawFieldsUploader); raw {
		return op.withRaw()
	}
	return op.withFields()
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
