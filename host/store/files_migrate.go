package store

import (
	"time"

	"gorm.io/gorm"
)

// Frozen structs of 2026112203_files: the file stage's listed files, its
// listing state per source, the orphans a listing reported and the
// devices' uploads.

type v3File struct {
	Source       string `gorm:"primaryKey;size:200;index:idx_files_pass,priority:1"`
	FileID       string `gorm:"primaryKey;size:1024"`
	MirrorID     string `gorm:"size:200;not null;uniqueIndex"`
	Target       string `gorm:"size:200;not null;index:idx_files_record,priority:1;index:idx_files_place,priority:1"`
	RecordEntity string `gorm:"size:200;not null;index:idx_files_record,priority:2"`
	RecordID     string `gorm:"size:200;not null;index:idx_files_record,priority:3"`
	RecordName   string `gorm:"size:400;not null;default:''"`
	Partition    string `gorm:"size:400;not null;default:'';index:idx_files_place,priority:2"`
	Name         string `gorm:"size:1024;not null;default:''"`
	Path         string `gorm:"type:text;not null;default:''"`
	Size         int64  `gorm:"not null;default:0"`
	MimeType     string `gorm:"size:200;not null;default:''"`
	ModifiedAt   *time.Time
	Hash         string `gorm:"size:200;not null;default:''"`
	Version      string `gorm:"size:200;not null;default:''"`
	RuleMode     string `gorm:"size:20;not null;default:'on_demand'"`
	RuleStatus   string `gorm:"size:20;not null;default:'ok'"`
	Quota        int64  `gorm:"not null;default:0"`
	Mode         string `gorm:"size:20;not null;default:'on_demand'"`
	Status       string `gorm:"size:20;not null;default:'ok'"`
	Problem      string `gorm:"size:40;not null;default:''"`
	Pass         int64  `gorm:"not null;default:0;index:idx_files_pass,priority:2"`
	UpdatedAt    time.Time
}

func (v3File) TableName() string { return "files" }

type v3FileSource struct {
	Source           string `gorm:"primaryKey;size:200"`
	Cursor           string `gorm:"type:text;not null;default:''"`
	ResumeCursor     string `gorm:"type:text;not null;default:''"`
	FullRunning      bool   `gorm:"not null;default:false"`
	FullPass         int64  `gorm:"not null;default:0"`
	RulesHash        string `gorm:"size:100;not null;default:''"`
	LastListStarted  *time.Time
	LastListFinished *time.Time
	LastSuccess      *time.Time
	LastFull         *time.Time
	LastError        string `gorm:"type:text;not null;default:''"`
	UpdatedAt        time.Time
}

func (v3FileSource) TableName() string { return "file_sources" }

type v3FileOrphan struct {
	Source  string    `gorm:"primaryKey;size:200"`
	PathKey string    `gorm:"primaryKey;size:1024"`
	Path    string    `gorm:"type:text;not null"`
	Pass    int64     `gorm:"not null;default:0"`
	SeenAt  time.Time `gorm:"not null"`
}

func (v3FileOrphan) TableName() string { return "file_orphans" }

type v3FileUpload struct {
	ID           string `gorm:"primaryKey;size:64"`
	Source       string `gorm:"size:200;not null;index:idx_file_uploads_status,priority:1"`
	Writer       string `gorm:"size:200;not null"`
	UserID       int64  `gorm:"not null"`
	DeviceID     int64  `gorm:"not null;uniqueIndex:idx_file_uploads_key,priority:1"`
	IdemKey      string `gorm:"size:200;not null;uniqueIndex:idx_file_uploads_key,priority:2"`
	Entity       string `gorm:"size:200;not null"`
	RecordID     string `gorm:"size:200;not null"`
	RecordName   string `gorm:"size:400;not null;default:''"`
	Name         string `gorm:"size:1024;not null"`
	MimeType     string `gorm:"size:200;not null;default:''"`
	Size         int64  `gorm:"not null"`
	SHA256       string `gorm:"size:64;not null"`
	Spool        string `gorm:"size:200;not null"`
	Status       string `gorm:"size:20;not null;index:idx_file_uploads_status,priority:2"`
	Attempts     int    `gorm:"not null;default:0"`
	LastError    string `gorm:"type:text;not null;default:''"`
	FileID       string `gorm:"size:1024;not null;default:''"`
	FileMirrorID string `gorm:"size:200;not null;default:''"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DoneAt       *time.Time
}

func (v3FileUpload) TableName() string { return "file_uploads" }

func v3Tables() []any {
	return []any{&v3File{}, &v3FileSource{}, &v3FileOrphan{}, &v3FileUpload{}}
}

func migrateFiles(tx *gorm.DB) error {
	return tx.Migrator().CreateTable(v3Tables()...)
}

func rollbackFiles(tx *gorm.DB) error {
	return tx.Migrator().DropTable(v3Tables()...)
}
