package store

import (
	"fmt"

	"gorm.io/gorm"
)

// Frozen struct of 2026120602_mutation_bodies: a mutation's content moves
// from push_mutations into a table beside it (see pushMutationBody), so
// that the push stage's changes of a mutation's state rewrite a narrow row.

type v5PushMutationBody struct {
	PushMutationID int64  `gorm:"primaryKey;autoIncrement:false"`
	Fields         []byte `gorm:"not null"`
	BaseFields     []byte
	ServerRecord   []byte
	ConflictFields []byte
}

func (v5PushMutationBody) TableName() string { return "push_mutation_bodies" }

// v5BodyColumns are the columns that move, as 2026112202_push made them.
var v5BodyColumns = []string{"fields", "base_fields", "server_record", "conflict_fields"}

func migrateMutationBodies(tx *gorm.DB) error {
	if err := tx.Migrator().CreateTable(&v5PushMutationBody{}); err != nil {
		return err
	}
	if err := tx.Exec(`INSERT INTO push_mutation_bodies (push_mutation_id, fields, base_fields, server_record, conflict_fields)
SELECT id, fields, base_fields, server_record, conflict_fields FROM push_mutations`).Error; err != nil {
		return fmt.Errorf("copy the mutations' content: %w", err)
	}
	for _, c := range v5BodyColumns {
		if err := tx.Exec("ALTER TABLE push_mutations DROP COLUMN " + c).Error; err != nil {
			return fmt.Errorf("drop push_mutations.%s: %w", c, err)
		}
	}
	return nil
}

func rollbackMutationBodies(tx *gorm.DB) error {
	blob := "blob"
	if tx.Dialector.Name() == KindPostgres {
		blob = "bytea"
	}
	for _, c := range v5BodyColumns {
		def := blob
		if c == "fields" {
			// NOT NULL needs a default for the rows already there; the
			// copy below replaces it.
			def += " NOT NULL DEFAULT ''"
		}
		if err := tx.Exec("ALTER TABLE push_mutations ADD COLUMN " + c + " " + def).Error; err != nil {
			return fmt.Errorf("add push_mutations.%s: %w", c, err)
		}
	}
	if err := tx.Exec(`UPDATE push_mutations SET fields = b.fields, base_fields = b.base_fields, server_record = b.server_record,
conflict_fields = b.conflict_fields FROM push_mutation_bodies AS b WHERE b.push_mutation_id = push_mutations.id`).Error; err != nil {
		return fmt.Errorf("copy the mutations' content back: %w", err)
	}
	return tx.Migrator().DropTable(&v5PushMutationBody{})
}
