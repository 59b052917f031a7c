package store

import (
	"context"
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"gorm.io/gorm"
)

// Migrations are append-only. Each one works on its own frozen copy of the
// structs as they were when it was written (never the live models, which
// move on), so replaying history on an empty database always gives the
// schema the live models describe. A new column is a new migration with a
// new frozen struct holding just what it adds.

// migrations lists every migration, oldest first.
func migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{ID: "2026112201_initial", Migrate: migrateInitial, Rollback: rollbackInitial},
		{ID: "2026112202_push", Migrate: migratePush, Rollback: rollbackPush},
		{ID: "2026112203_files", Migrate: migrateFiles, Rollback: rollbackFiles},
		{ID: "2026120601_identity_login", Migrate: migrateIdentityLogin, Rollback: rollbackIdentityLogin},
		{ID: "2026120602_mutation_bodies", Migrate: migrateMutationBodies, Rollback: rollbackMutationBodies},
		{ID: "2026120701_waiting_index", Migrate: migrateWaitingIndex, Rollback: rollbackWaitingIndex},
	}
}

// Frozen structs of 2026112201_initial.

type v1Source struct {
	Name      string `gorm:"primaryKey;size:200"`
	Seq       int64  `gorm:"not null;default:0"`
	CreatedAt time.Time
}

func (v1Source) TableName() string { return "sources" }

type v1EntityState struct {
	Source              string `gorm:"primaryKey;size:200"`
	Entity              string `gorm:"primaryKey;size:200"`
	Cursor              string `gorm:"type:text;not null;default:''"`
	FullCursor          string `gorm:"type:text;not null;default:''"`
	FullRunning         bool   `gorm:"not null;default:false"`
	FullPass            int64  `gorm:"not null;default:0"`
	FullStartSeq        int64  `gorm:"not null;default:0"`
	DeleteCursor        string `gorm:"type:text;not null;default:''"`
	PendingDeleteCursor string `gorm:"type:text;not null;default:''"`
	SchemaHash          string `gorm:"size:100;not null;default:''"`
	LastPullStarted     *time.Time
	LastPullFinished    *time.Time
	LastSuccess         *time.Time
	LastFull            *time.Time
	LastReconcile       *time.Time
	LastError           string `gorm:"type:text;not null;default:''"`
	Records             int64  `gorm:"not null;default:0"`
	UpdatedAt           time.Time
}

func (v1EntityState) TableName() string { return "entity_states" }

type v1Record struct {
	Source     string `gorm:"primaryKey;size:200;index:idx_records_pass,priority:1"`
	Entity     string `gorm:"primaryKey;size:200;index:idx_records_pass,priority:2"`
	ID         string `gorm:"primaryKey;size:200"`
	Version    string `gorm:"size:200;not null;default:''"`
	ModifiedAt *time.Time
	Fields     []byte `gorm:"not null"`
	Hash       string `gorm:"size:64;not null;default:''"`
	Partition  string `gorm:"size:400;not null;default:''"`
	Seq        int64  `gorm:"not null"`
	Pass       int64  `gorm:"not null;default:0;index:idx_records_pass,priority:3"`
}

func (v1Record) TableName() string { return "records" }

type v1PartitionItem struct {
	Source    string    `gorm:"primaryKey;size:200;index:idx_items_seq,priority:1;index:idx_items_tomb,priority:1"`
	Partition string    `gorm:"primaryKey;size:400;index:idx_items_seq,priority:2"`
	Entity    string    `gorm:"primaryKey;size:200"`
	ID        string    `gorm:"primaryKey;size:200"`
	Seq       int64     `gorm:"not null;index:idx_items_seq,priority:3"`
	Removed   bool      `gorm:"not null;default:false;index:idx_items_tomb,priority:2"`
	UpdatedAt time.Time `gorm:"index:idx_items_tomb,priority:3"`
}

func (v1PartitionItem) TableName() string { return "partition_items" }

type v1PartitionFloor struct {
	Source    string `gorm:"primaryKey;size:200"`
	Partition string `gorm:"primaryKey;size:400"`
	Seq       int64  `gorm:"not null"`
}

func (v1PartitionFloor) TableName() string { return "partition_floors" }

type v1User struct {
	ID           int64  `gorm:"primaryKey;autoIncrement"`
	Name         string `gorm:"size:200;not null;uniqueIndex"`
	PasswordHash string `gorm:"size:200;not null"`
	Role         string `gorm:"size:20;not null;default:'user'"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (v1User) TableName() string { return "users" }

type v1UserIdentity struct {
	UserID     int64  `gorm:"primaryKey"`
	Source     string `gorm:"primaryKey;size:200"`
	BackendID  string `gorm:"size:200;not null"`
	Attributes []byte
}

func (v1UserIdentity) TableName() string { return "user_identities" }

type v1Device struct {
	ID         int64  `gorm:"primaryKey;autoIncrement"`
	UserID     int64  `gorm:"not null;uniqueIndex:idx_devices_user_device,priority:1"`
	DeviceID   string `gorm:"size:200;not null;uniqueIndex:idx_devices_user_device,priority:2"`
	CreatedAt  time.Time
	LastSeenAt time.Time
	RevokedAt  *time.Time
}

func (v1Device) TableName() string { return "devices" }

type v1Token struct {
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

func (v1Token) TableName() string { return "tokens" }

func v1Tables() []any {
	return []any{&v1Source{}, &v1EntityState{}, &v1Record{}, &v1PartitionItem{}, &v1PartitionFloor{},
		&v1User{}, &v1UserIdentity{}, &v1Device{}, &v1Token{}}
}

func migrateInitial(tx *gorm.DB) error {
	return tx.Migrator().CreateTable(v1Tables()...)
}

func rollbackInitial(tx *gorm.DB) error {
	return tx.Migrator().DropTable(v1Tables()...)
}

// migrate runs the hub's migrations, then River's, holding an advisory lock
// on PostgreSQL so concurrent starts take turns.
func (s *Store) migrate(ctx context.Context) error {
	unlock, err := s.migrationLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.migrator(ctx).Migrate(); err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	if err := s.migrateQueue(ctx); err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	return nil
}

// migrator runs the hub's migrations on the store's database.
func (s *Store) migrator(ctx context.Context) *gormigrate.Gormigrate {
	return gormigrate.New(s.db.WithContext(ctx), &gormigrate.Options{
		TableName:                 "migrations",
		IDColumnName:              "id",
		IDColumnSize:              255,
		UseTransaction:            true,
		ValidateUnknownMigrations: true,
	}, migrations())
}

// migrateQueue brings River's tables up to date.
func (s *Store) migrateQueue(ctx context.Context) error {
	switch s.kind {
	case KindPostgres:
		m, err := rivermigrate.New(riverdatabasesql.New(s.sqlDB), nil)
		if err != nil {
			return err
		}
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	default:
		m, err := rivermigrate.New(riversqlite.New(s.sqlDB), nil)
		if err != nil {
			return err
		}
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
}

// migrationLock serializes migrations across hub instances on PostgreSQL.
func (s *Store) migrationLock(ctx context.Context) (func(), error) {
	if s.kind != KindPostgres {
		return func() {}, nil
	}
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate store: lock: %w", err)
	}
	key := s.lockKey("migrate")
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("migrate store: lock: %w", err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		conn.Close()
	}, nil
}
