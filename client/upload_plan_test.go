package client

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// TestUploadReadsTheLogInOrder: an upload batch reads the source's entries
// along idx_change_source_seq from where the last batch ended and stops
// after one batch, instead of reading every entry of the source and
// sorting them (once per batch: quadratic in a large offline backlog). The
// store is not analyzed, as a device's never is.
func TestUploadReadsTheLogInOrder(t *testing.T) {
	e := newEnv(t)
	e.sync()
	for i := range 300 {
		_, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": fmt.Sprintf("A%d", i)})
		require.NoError(t, err)
	}
	query := e.c.db.ToSQL(func(tx *gorm.DB) *gorm.DB {
		return sendable(tx.Model(&changeRow{}), "crm", 100).Order("seq").Limit(100).Find(&[]changeRow{})
	})
	var plan []struct {
		ID, Parent, Notused int
		Detail              string
	}
	require.NoError(t, e.c.db.Raw("EXPLAIN QUERY PLAN "+query).Scan(&plan).Error)
	var lines []string
	for _, p := range plan {
		lines = append(lines, p.Detail)
	}
	text := strings.Join(lines, "\n")
	assert.Contains(t, lines[0], "idx_change_source_seq (source=? AND seq>?)", text)
	assert.NotContains(t, text, "TEMP B-TREE", text)
}
