package store

import (
	"time"

	"gorm.io/gorm"
)

// Frozen structs of 2026112202_push: the push stage's mutation and op
// tables and the record history three-way merges read their base from.

type v2PushMutation struct {
	ID             int64  `gorm:"primaryKey;autoIncrement"`
	Source         string `gorm:"size:200;not null;index:idx_push_mutations_status,priority:1;index:idx_push_mutations_applied,priority:1;index:idx_push_mutations_device,priority:1"`
	DeviceID       int64  `gorm:"not null;uniqueIndex:idx_push_mutations_dedupe,priority:1;index:idx_push_mutations_applied,priority:2;index:idx_push_mutations_device,priority:2"`
	MutationID     string `gorm:"size:200;not null;uniqueIndex:idx_push_mutations_dedupe,priority:2"`
	UserID         int64  `gorm:"not null"`
	Entity         string `gorm:"size:200;not null;index:idx_push_mutations_device,priority:3"`
	Op             string `gorm:"size:10;not null"`
	RecordID       string `gorm:"size:200;not null;index:idx_push_mutations_device,priority:4"`
	BaseVersion    string `gorm:"size:200;not null;default:''"`
	Fields         []byte `gorm:"not null"`
	BaseFields     []byte
	ClientTime     *time.Time
	GroupID        string `gorm:"size:200;not null;default:''"`
	Hash           string `gorm:"size:64;not null;default:''"`
	Status         string `gorm:"size:20;not null;index:idx_push_mutations_status,priority:2"`
	Parked         bool   `gorm:"not null;default:false"`
	Force          bool   `gorm:"not null;default:false"`
	Reason         string `gorm:"type:text;not null;default:''"`
	ServerRecord   []byte
	ConflictFields []byte
	BackendID      string `gorm:"size:200;not null;default:''"`
	ResultVersion  string `gorm:"size:200;not null;default:''"`
	OpID           int64  `gorm:"not null;default:0;index"`
	AppliedSeq     int64  `gorm:"not null;default:0;index:idx_push_mutations_applied,priority:3"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ResolvedAt     *time.Time
}

func (v2PushMutation) TableName() string { return "push_mutations" }

type v2PushOp struct {
	ID            int64     `gorm:"primaryKey;autoIncrement"`
	Source        string    `gorm:"size:200;not null;index:idx_push_ops_due,priority:1"`
	Key           string    `gorm:"size:64;not null;uniqueIndex"`
	Entity        string    `gorm:"size:200;not null"`
	Kind          string    `gorm:"size:10;not null"`
	RecordID      string    `gorm:"size:200;not null"`
	BaseVersion   string    `gorm:"size:200;not null;default:''"`
	Fields        []byte    `gorm:"not null"`
	Deferred      []byte    //
	SecondPass    bool      `gorm:"not null;default:false"`
	GroupKey      string    `gorm:"size:400;not null;default:''"`
	Attempts      int       `gorm:"not null;default:0"`
	Resends       int       `gorm:"not null;default:0"`
	Lost          []byte    //
	Dead          bool      `gorm:"not null;default:false"`
	SentSeq       int64     `gorm:"not null;default:0"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_push_ops_due,priority:2"`
	LastError     string    `gorm:"type:text;not null;default:''"`
	CreatedAt     time.Time
}

func (v2PushOp) TableName() string { return "push_ops" }

type v2RecordVersion struct {
	Source    string    `gorm:"primaryKey;size:200"`
	Entity    string    `gorm:"primaryKey;size:200"`
	ID        string    `gorm:"primaryKey;size:200"`
	Version   string    `gorm:"primaryKey;size:200"`
	Fields    []byte    `gorm:"not null"`
	CreatedAt time.Time `gorm:"index"`
}

func (v2RecordVersion) TableName() string { return "record_versions" }

func v2Tables() []any { return []any{&v2PushMutation{}, &v2PushOp{}, &v2RecordVersion{}} }

func migratePush(tx *gorm.DB) error { return tx.Migrator().CreateTable(v2Tables()...) }

func rollbackPush(tx *gorm.DB) error { return tx.Migrator().DropTable(v2Tables()...) }
