package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// TestPlainIn: a plain statement's list of values is one array parameter
// on PostgreSQL and a list of placeholders on SQLite, and finds the same
// rows on both, for text and integer columns.
func TestPlainIn(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		require.NoError(t, s.DB().Exec(`INSERT INTO sources (name, seq, created_at) VALUES ('a', 1, CURRENT_TIMESTAMP),
			('b', 2, CURRENT_TIMESTAMP), ('c''d', 3, CURRENT_TIMESTAMP)`).Error)
		tests := []struct {
			name, col string
			values    any
			want      []string
			pgText    string
			sqlText   string
		}{
			{"text", "name", []string{"c'd", "a", "zz"}, []string{"a", "c'd"},
				"SELECT name FROM sources WHERE name = ANY($1) ORDER BY name",
				"SELECT name FROM sources WHERE name IN (?,?,?) ORDER BY name"},
			{"integers", "seq", []int64{3, 2}, []string{"2", "3"},
				"SELECT seq FROM sources WHERE seq = ANY($1) ORDER BY seq",
				"SELECT seq FROM sources WHERE seq IN (?,?) ORDER BY seq"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				text, got, err := s.PlainIn("sources", tt.col, tt.values)
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				want := tt.sqlText
				if s.Kind() == store.KindPostgres {
					want = tt.pgText
				}
				assert.Equal(t, want, text)
			})
		}
	})
}

// TestPlainRowsBindRepeatedValuesOnce: on SQLite a VALUES list's value
// equal to the first row's in its column is bound once and named by
// number; the rows read back the same on both databases, and a parameter
// after the list still binds its own value.
func TestPlainRowsBindRepeatedValuesOnce(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		rows := [][]any{
			{"a", "crm", "x", "p"},
			{"b", "crm", "x", "q"},
			{"c", "crm", "y", "p"},
			{"skip", "crm", "x", "p"},
		}
		text, args, got, err := s.PlainRows(rows, "skip")
		require.NoError(t, err)
		assert.Equal(t, [][]string{{"a", "crm", "x", "p"}, {"b", "crm", "x", "q"}, {"c", "crm", "y", "p"}}, got)
		if s.Kind() == store.KindPostgres {
			assert.Equal(t, 17, args, text)
			return
		}
		assert.Equal(t, "SELECT * FROM (VALUES (?,?,?,?),(?,?2,?3,?),(?,?2,?,?4),(?,?2,?3,?4)) AS v WHERE column1 <> ? ORDER BY column1", text)
		assert.Equal(t, 10, args)
	})
}
