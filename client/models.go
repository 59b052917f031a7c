package client

import "time"

// schemaVersion is the version of the local store's tables. A store written
// by a newer version is refused; an older one is migrated by AutoMigrate.
const schemaVersion = 1

// The change-log entry states.
const (
	statePending = "pending" // not yet handed to the hub: may still coalesce
	stateSending = "sending" // in flight: the hub may hold it; re-sent as is
	stateSent    = "sent"    // accepted by the hub, kept until applied
	stateError   = "error"   // rejected, or reported as a sync error
)

// The file download states.
const (
	fileRemote  = ""        // listed only (on demand)
	fileQueued  = "queued"  // eager, waiting for a worker
	filePartial = "partial" // a download was interrupted: resume from Offset
	fileDone    = "done"    // content on disk, verified
	fileFailed  = "error"   // gave up until the next sync
)

// metaRow holds the store's own facts: schema version, device id.
type metaRow struct {
	Key   string `gorm:"primaryKey"`
	Value string
}

func (metaRow) TableName() string { return "meta" }

// accountRow is the one saved login (ID 1).
type accountRow struct {
	ID           int `gorm:"primaryKey"`
	HubURL       string
	Username     string
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	UpdatedAt    time.Time
}

func (accountRow) TableName() string { return "account" }

// sourceRow is one source of the hub as the device knows it.
type sourceRow struct {
	Name       string `gorm:"primaryKey"`
	Position   int
	Checkpoint string
	// FullGen numbers full passes; records delivered by the current pass
	// carry it, so the pass's end sweeps the ones it did not deliver.
	FullGen    int64
	FullActive bool
	LastSyncAt *time.Time
}

func (sourceRow) TableName() string { return "sources" }

// entityRow is one entity of a source's schema.
type entityRow struct {
	Source   string `gorm:"primaryKey"`
	Name     string `gorm:"primaryKey"`
	Position int
	Key      string
	ReadOnly bool
	Hash     string
	Fields   string // JSON []FieldSchema
}

func (entityRow) TableName() string { return "entities" }

// recordRow is the device's view of a record: the server's version, or the
// local one while a change-log entry exists for it.
type recordRow struct {
	Source     string `gorm:"primaryKey;index:idx_records_partition,priority:1"`
	Entity     string `gorm:"primaryKey"`
	ID         string `gorm:"primaryKey"`
	Partition  string `gorm:"index:idx_records_partition,priority:2"`
	Version    string
	ModifiedAt *time.Time
	Fields     string // JSON object
	Gen        int64
}

func (recordRow) TableName() string { return "records" }

// shadowRow is the server's latest version of a record that has local
// edits: kept for conflict display and applied when the edits go.
type shadowRow struct {
	Source     string `gorm:"primaryKey"`
	Entity     string `gorm:"primaryKey"`
	ID         string `gorm:"primaryKey"`
	Partition  string
	Version    string
	ModifiedAt *time.Time
	Fields     string
	Removed    bool
	Gen        int64
}

func (shadowRow) TableName() string { return "shadows" }

// changeRow is one change-log entry: one mutation of one record.
type changeRow struct {
	// idx_change_source_seq serves the upload's reads, a source's entries
	// in seq order from where the last batch ended: without it SQLite
	// reads every entry of the source and sorts them, once per batch.
	Seq         int64  `gorm:"primaryKey;autoIncrement;index:idx_change_source_seq,priority:2"`
	MutationID  string `gorm:"uniqueIndex"`
	Source      string `gorm:"index:idx_change_record,priority:1;index:idx_change_source_seq,priority:1"`
	Entity      string `gorm:"index:idx_change_record,priority:2"`
	RecordID    string `gorm:"index:idx_change_record,priority:3"`
	Op          string // create, update, delete
	BaseVersion string
	Fields      string // JSON object: all fields (create) or the changed ones
	ClientTime  time.Time
	State       string
	Applied     bool
	Reason      string
	Group       string
	SentAt      *time.Time
}

func (changeRow) TableName() string { return "change_log" }

// syncErrorRow caches one of the hub's sync errors.
type syncErrorRow struct {
	Source            string `gorm:"primaryKey"`
	ID                string `gorm:"primaryKey"`
	MutationID        string `gorm:"index"`
	Entity            string
	RecordID          string
	Reason            string
	Status            string
	ServerRecord      string // JSON or ""
	DeviceRecord      string // JSON or ""
	ConflictingFields string // JSON array
	Resolved          bool
}

func (syncErrorRow) TableName() string { return "sync_errors" }

// fileRow is a file's metadata and its local download state.
type fileRow struct {
	ID           string `gorm:"primaryKey"`
	Source       string `gorm:"index:idx_files_record,priority:1"`
	RecordEntity string `gorm:"index:idx_files_record,priority:2"`
	RecordID     string `gorm:"index:idx_files_record,priority:3"`
	Partition    string
	Name         string
	MimeType     string
	Size         int64
	Hash         string
	Version      string
	ModifiedAt   *time.Time
	Eager        bool
	State        string `gorm:"index"`
	Offset       int64
	ETag         string
	Error        string
	Attempts     int
	Gen          int64
}

func (fileRow) TableName() string { return "files" }

// uploadRow is a file queued for upload to a record.
type uploadRow struct {
	ID         int64 `gorm:"primaryKey;autoIncrement"`
	Source     string
	Entity     string
	RecordID   string
	Name       string
	MimeType   string
	Size       int64
	LocalPath  string
	State      string // pending, error
	Error      string
	CreatedAt  time.Time
	UploadedAt *time.Time
}

func (uploadRow) TableName() string { return "file_uploads" }

// syncLogRow is one timed phase of a sync.
type syncLogRow struct {
	ID         int64 `gorm:"primaryKey;autoIncrement"`
	StartedAt  time.Time
	Source     string
	Phase      string
	Summary    string
	DurationMS int64
	Error      string
}

func (syncLogRow) TableName() string { return "sync_log" }

var allModels = []any{
	&metaRow{}, &accountRow{}, &sourceRow{}, &entityRow{}, &recordRow{},
	&shadowRow{}, &changeRow{}, &syncErrorRow{}, &fileRow{}, &uploadRow{},
	&syncLogRow{},
}
