package store

import "time"

// The tables. Migrations (migrate.go) freeze a copy of each struct per
// version; these are the current shapes the queries use.

// Source is one configured source; Seq is the last seq handed out.
//
// Seqs are taken with UPDATE ... SET seq = seq + n inside the transaction
// that writes the changes, so the row lock orders commits: a reader never
// sees seq n+1 committed before seq n.
type Source struct {
	Name      string `gorm:"primaryKey;size:200"`
	Seq       int64  `gorm:"not null;default:0"`
	CreatedAt time.Time
}

// EntityState is the pull state of one entity of a source.
type EntityState struct {
	Source string `gorm:"primaryKey;size:200"`
	Entity string `gorm:"primaryKey;size:200"`
	// Cursor is the incremental cursor ("" = the next pull is full).
	Cursor string `gorm:"type:text;not null;default:''"`
	// FullCursor is the resume point of an interrupted full pass.
	FullCursor string `gorm:"type:text;not null;default:''"`
	// FullRunning is set while a full pass is under way; FullPass numbers it.
	FullRunning bool  `gorm:"not null;default:false"`
	FullPass    int64 `gorm:"not null;default:0"`
	// FullStartSeq is the source seq when the running full pass started:
	// reconciliation removes only records not seen by the pass whose seq is
	// at most this, so a record another stage wrote during the pass survives.
	FullStartSeq int64 `gorm:"not null;default:0"`
	// DeleteCursor is the delete feed's cursor (DeleteTracker connectors).
	DeleteCursor string `gorm:"type:text;not null;default:''"`
	// PendingDeleteCursor is taken at the start of a full pass and becomes
	// DeleteCursor when the pass completes.
	PendingDeleteCursor string `gorm:"type:text;not null;default:''"`
	// SchemaHash is the hash of the entity's schema and config the mirror was
	// built with; a change forces a full pass.
	SchemaHash       string `gorm:"size:100;not null;default:''"`
	LastPullStarted  *time.Time
	LastPullFinished *time.Time
	LastSuccess      *time.Time
	LastFull         *time.Time
	LastReconcile    *time.Time
	LastError        string `gorm:"type:text;not null;default:''"`
	Records          int64  `gorm:"not null;default:0"`
	UpdatedAt        time.Time
}

// Record is a mirrored record. Partition is the one partition the entity's
// rule puts it in ("" when it is in none).
type Record struct {
	Source     string `gorm:"primaryKey;size:200;index:idx_records_pass,priority:1"`
	Entity     string `gorm:"primaryKey;size:200;index:idx_records_pass,priority:2"`
	ID         string `gorm:"primaryKey;size:200"`
	Version    string `gorm:"size:200;not null;default:''"`
	ModifiedAt *time.Time
	Fields     []byte `gorm:"not null"`
	// Hash is a digest of Fields: a record whose version, partition and hash
	// are unchanged is not a change.
	Hash      string `gorm:"size:64;not null;default:''"`
	Partition string `gorm:"size:400;not null;default:''"`
	Seq       int64  `gorm:"not null"`
	Pass      int64  `gorm:"not null;default:0;index:idx_records_pass,priority:3"`
}

// PartitionItem is the latest op of a record in a partition: a PUT (Removed
// false) or a REMOVE tombstone. The download path reads it by
// (source, partition, seq).
type PartitionItem struct {
	Source    string    `gorm:"primaryKey;size:200;index:idx_items_seq,priority:1;index:idx_items_tomb,priority:1"`
	Partition string    `gorm:"primaryKey;size:400;index:idx_items_seq,priority:2"`
	Entity    string    `gorm:"primaryKey;size:200"`
	ID        string    `gorm:"primaryKey;size:200"`
	Seq       int64     `gorm:"not null;index:idx_items_seq,priority:3"`
	Removed   bool      `gorm:"not null;default:false;index:idx_items_tomb,priority:2"`
	UpdatedAt time.Time `gorm:"index:idx_items_tomb,priority:3"`
}

// PartitionFloor is the highest seq of a tombstone that retention deleted:
// a checkpoint below it has missed a REMOVE and must resync the partition.
type PartitionFloor struct {
	Source    string `gorm:"primaryKey;size:200"`
	Partition string `gorm:"primaryKey;size:400"`
	Seq       int64  `gorm:"not null"`
}

// User is a hub user.
type User struct {
	ID           int64  `gorm:"primaryKey;autoIncrement"`
	Name         string `gorm:"size:200;not null;uniqueIndex"`
	PasswordHash string `gorm:"size:200;not null"`
	Role         string `gorm:"size:20;not null;default:'user'"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// UserIdentity is a user's identity on a source's back end.
type UserIdentity struct {
	UserID     int64  `gorm:"primaryKey"`
	Source     string `gorm:"primaryKey;size:200"`
	BackendID  string `gorm:"size:200;not null"`
	Attributes []byte // JSON object of string values
	// Login is the login the identity was resolved from ("" for an id
	// given in the config).
	Login string `gorm:"size:320;not null;default:''"`
}

// Device is one device of a user.
type Device struct {
	ID         int64  `gorm:"primaryKey;autoIncrement"`
	UserID     int64  `gorm:"not null;uniqueIndex:idx_devices_user_device,priority:1"`
	DeviceID   string `gorm:"size:200;not null;uniqueIndex:idx_devices_user_device,priority:2"`
	CreatedAt  time.Time
	LastSeenAt time.Time
	RevokedAt  *time.Time
}

// Token is an access or refresh token, stored only as the SHA-256 of its
// value. Refresh tokens rotate: each use marks it used and issues a new one
// of the same Family; reuse of a used one revokes the family.
type Token struct {
	Hash      string    `gorm:"primaryKey;size:64"`
	Kind      string    `gorm:"size:10;not null"`
	UserID    int64     `gorm:"not null;index"`
	DeviceID  int64     `gorm:"not null;index"`
	Family    string    `gorm:"size:64;not null;index"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
}
