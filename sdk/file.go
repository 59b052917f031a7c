package sdk

import "time"

// RecordRef names the record a file belongs to.
type RecordRef struct {
	Entity string `json:"entity"`
	ID     string `json:"id"`
	// Name is the record's display name, when the back end gives it.
	Name string `json:"name,omitempty"`
}

// File is a file's metadata.
type File struct {
	ID         string
	Name       string
	Size       int64
	MimeType   string
	ModifiedAt time.Time
	// Hash is a content hash when the back end has one ("" otherwise).
	Hash string
	// Version changes whenever the content changes.
	Version string
	Record  RecordRef
	// Path is the file's location in a document store, when it has one.
	Path string
}

// ListFilesRequest asks for files changed since Cursor ("" = all).
type ListFilesRequest struct {
	Cursor string
	// Entities limits the listing to files of these entities' records.
	Entities []string
}

// FilePage is one page of a file listing.
type FilePage struct {
	Files []File
	// Deleted lists ids of files removed since the cursor. A connector
	// whose file ids are paths (a document store) may list a removed
	// folder's path: every file whose id is that path or starts with it
	// plus "/" is gone, as the back end reports a folder's deletion once,
	// not per file.
	Deleted []string
	// Orphans lists paths that do not follow the connector's record
	// convention: reported, never guessed.
	Orphans []string
	Cursor  string
	Done    bool
}

// ReadFileRequest asks for a file's content from Offset; Length 0 = to the end.
type ReadFileRequest struct {
	ID     string
	Offset int64
	Length int64
}

// WriteFileRequest describes a new file to store on a record.
type WriteFileRequest struct {
	Record   RecordRef
	Name     string
	MimeType string
	// Size is the content length, or -1 when unknown.
	Size int64
	// Key identifies the write: the hub sends the same key again when it
	// retries a write whose answer it lost (a timeout, a plugin that
	// crashed). A connector must not store a second file for a key it has
	// already written: it answers the file it wrote (use the key as the
	// back end's id or idempotency key, or look it up). Empty: no retry
	// protection asked for.
	Key string
}
