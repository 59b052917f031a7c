package store

import (
	"fmt"

	"gorm.io/gorm"
)

// 2026120701_waiting_index: a source's mutations of one status are indexed
// in id order (source, status, id), replacing the index on (source,
// status). A plan reads the first waiting mutations of a status, oldest
// first (PushTx.WaitingMutations): with the id in the index that is a
// range of it, where PostgreSQL otherwise walked the primary key from the
// oldest mutation, every applied one included. SQLite's index already
// ended with the rowid; it stores the id once more.

func migrateWaitingIndex(tx *gorm.DB) error {
	return execAll(tx, "index push_mutations by status in id order",
		"CREATE INDEX idx_push_mutations_waiting ON push_mutations (source, status, id)",
		"DROP INDEX IF EXISTS idx_push_mutations_status")
}

func rollbackWaitingIndex(tx *gorm.DB) error {
	return execAll(tx, "index push_mutations by status",
		"CREATE INDEX idx_push_mutations_status ON push_mutations (source, status)",
		"DROP INDEX IF EXISTS idx_push_mutations_waiting")
}

// execAll runs statements in order; what names them in an error.
func execAll(tx *gorm.DB, what string, stmts ...string) error {
	for _, stmt := range stmts {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}
