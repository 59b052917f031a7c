package sdk

import (
	"context"
	"encoding/json"
	"io"
)

// ProtocolVersion is the plugin protocol version this SDK speaks. The host
// refuses a plugin whose version it does not support, naming both versions.
const ProtocolVersion = 1

// Connector is what every connector implements. Everything else is optional:
// implement Fetcher, DeleteTracker, IDLister, Uploader, FileLister, FileReader,
// FileWriter or UserResolver and the SDK announces the capability.
type Connector interface {
	// Describe names the connector. It is called before Configure and must not
	// touch the network.
	Describe() Description
	// Configure hands the connector its source's config (the `config = {...}`
	// object of the admin's source block, as JSON). Reject unknown or missing
	// keys here with a *Error of code CodeInvalidConfig naming the key.
	Configure(ctx context.Context, req ConfigureRequest) error
	// Check proves connectivity and credentials and says who the connector is
	// on the back end.
	Check(ctx context.Context) (CheckResult, error)
	// Schema describes the requested entities. An entity the back end does not
	// have is an error of code CodeUnknownEntity naming it.
	Schema(ctx context.Context, req SchemaRequest) (Schema, error)
}

// Fetcher reads records, in full or incrementally, one back-end page at a time.
//
// A full pass (Incremental false) starts at Cursor "" or resumes at a Cursor a
// previous, interrupted full pass sent with one of its pages. Its last page has
// Done set and carries the cursor the next incremental pass starts from ("" if
// the back end has no incremental feed). An incremental pass returns every
// change since Cursor, unfiltered, ending with Done and the next cursor. A
// cursor the back end no longer accepts is reported as ErrCursorExpired; the
// host then runs a full pass.
//
// A connector that fetches "changed since T" must take its next cursor from
// the back end's clock before the fetch starts, never after.
type Fetcher interface {
	Fetch(ctx context.Context, req FetchRequest, send func(Page) error) error
}

// DeleteTracker reports deletions from a separate feed. Cursor "" means
// "start tracking now": answer one Done page with a cursor for the present.
type DeleteTracker interface {
	Deletions(ctx context.Context, req DeletionsRequest, send func(DeletionPage) error) error
}

// IDLister lists the ids of all records of an entity that match a filter, for
// reconciliation when the back end cannot report deletions.
type IDLister interface {
	ListIDs(ctx context.Context, req ListIDsRequest, send func(ids []string) error) error
}

// Uploader applies device mutations. It answers one OpResult per Op, in any
// order, matched by MutationID; an error return means the whole call failed
// and every op will be retried.
//
// Contract: a retried create must not create twice. Use Op.ID as the
// back end's key where it allows client-supplied keys, an external-id upsert,
// or probe for the record before creating again.
type Uploader interface {
	Upload(ctx context.Context, req UploadRequest) (UploadResponse, error)
}

// RawFieldsUploader is an Uploader that reads each op's fields as JSON:
// the SDK hands its Upload ops with the fields in Op.Raw (a JSON object,
// numbers as the device wrote them; empty for an op without fields, such
// as a delete) and Fields nil, instead of decoding them into maps that the
// connector would only encode again for its back end. A connector that
// needs the map for an op calls Op.FieldMap.
type RawFieldsUploader interface {
	Uploader
	// UploadsRawFields marks the connector; it is never called.
	UploadsRawFields()
}

// FileLister lists file metadata (never bodies), incrementally when the back
// end gives a cursor.
type FileLister interface {
	ListFiles(ctx context.Context, req ListFilesRequest, send func(FilePage) error) error
}

// FileReader streams a file's content from Offset. The caller closes the reader.
type FileReader interface {
	ReadFile(ctx context.Context, req ReadFileRequest) (io.ReadCloser, File, error)
}

// FileWriter stores a new file on a record, reading its content from body.
type FileWriter interface {
	WriteFile(ctx context.Context, req WriteFileRequest, body io.Reader) (File, error)
}

// UserResolver maps a hub user's login to the back end's user, so an admin
// can write `identity "crm" { login = "alice@contoso.com" }` instead of
// looking up the user's id. The hub calls it when a source starts (and
// when an admin restarts it) for every user whose identity on the source is
// given by login, and keeps the answer as that user's identity: the id is
// what "owner:<field>" partition rules compare with, the attributes what
// "<attr>:<field>" rules compare with.
//
// A login the back end does not know is a *Error of code CodeNotFound
// naming the login; any other error means the back end could not be asked.
// Logins are matched the way the back end matches its sign-in names
// (usually case-insensitively).
type UserResolver interface {
	ResolveUser(ctx context.Context, req ResolveUserRequest) (Identity, error)
}

// ResolveUserRequest names the login to resolve.
type ResolveUserRequest struct {
	// Login is the user's sign-in name on the back end: an e-mail address
	// or a domain name (never empty: the SDK refuses an empty one).
	Login string
}

// Description is what Describe returns.
type Description struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// ProtocolVersion and Capabilities are filled in by the SDK.
	ProtocolVersion int          `json:"protocol_version"`
	Capabilities    []Capability `json:"capabilities"`
	// ConfigSchema documents the keys Configure accepts.
	ConfigSchema []ConfigField `json:"config_schema,omitempty"`
	// MaxBatchSize is the largest Upload the back end takes in one call (0: 100).
	MaxBatchSize int `json:"max_batch_size,omitempty"`
	// AtomicBatches announces that Upload with Atomic set is all-or-nothing.
	AtomicBatches bool `json:"atomic_batches,omitempty"`
}

// Has reports whether the description announces capability c.
func (d Description) Has(c Capability) bool {
	for _, have := range d.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// ConfigField documents one key of a connector's config.
type ConfigField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Doc      string `json:"doc,omitempty"`
	Required bool   `json:"required,omitempty"`
	Secret   bool   `json:"secret,omitempty"`
}

// Capability names an optional part of the protocol a connector implements.
type Capability string

// The capabilities. CapAtomicBatches comes from Description.AtomicBatches, the
// others from the interfaces the connector implements.
const (
	CapFetch         Capability = "fetch"
	CapDeletions     Capability = "deletions"
	CapListIDs       Capability = "list_ids"
	CapUpload        Capability = "upload"
	CapAtomicBatches Capability = "atomic_batches"
	CapListFiles     Capability = "list_files"
	CapReadFile      Capability = "read_file"
	CapWriteFile     Capability = "write_file"
	CapResolveUser   Capability = "resolve_user"
)

// Capabilities lists what c implements, in a stable order.
func Capabilities(c Connector) []Capability {
	var caps []Capability
	if _, ok := c.(Fetcher); ok {
		caps = append(caps, CapFetch)
	}
	if _, ok := c.(DeleteTracker); ok {
		caps = append(caps, CapDeletions)
	}
	if _, ok := c.(IDLister); ok {
		caps = append(caps, CapListIDs)
	}
	if _, ok := c.(Uploader); ok {
		caps = append(caps, CapUpload)
		if c.Describe().AtomicBatches {
			caps = append(caps, CapAtomicBatches)
		}
	}
	if _, ok := c.(FileLister); ok {
		caps = append(caps, CapListFiles)
	}
	if _, ok := c.(FileReader); ok {
		caps = append(caps, CapReadFile)
	}
	if _, ok := c.(FileWriter); ok {
		caps = append(caps, CapWriteFile)
	}
	if _, ok := c.(UserResolver); ok {
		caps = append(caps, CapResolveUser)
	}
	return caps
}

// describe fills in what the SDK owns in a connector's Description.
func describe(c Connector) Description {
	d := c.Describe()
	d.ProtocolVersion = ProtocolVersion
	d.Capabilities = Capabilities(c)
	return d
}

// ConfigureRequest carries a source's config.
type ConfigureRequest struct {
	// Source is the admin's name for this source, for log and error messages.
	Source string
	// Config is the source's `config` object as JSON.
	Config json.RawMessage
}

// DecodeConfig decodes a source's config into v, refusing unknown keys, and
// reports problems as CodeInvalidConfig errors.
func DecodeConfig(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Code: CodeInvalidConfig, Summary: "invalid connector config", Detail: err.Error()}
	}
	return nil
}

// CheckResult is what Check returns: who the connector is on the back end.
type CheckResult struct {
	Identity Identity
	Message  string
}

// Identity is a user on a back end.
type Identity struct {
	ID         string            `json:"id"`
	Name       string            `json:"name,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}
