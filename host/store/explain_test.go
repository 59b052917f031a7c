package store_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// TestDownloadPathIsIndexed proves with the planner's own words that a
// device's download reads partition_items through idx_items_seq and
// records through their primary key, never by scanning a table, on a
// mirror big enough (20,000 items in 50 partitions, analyzed) that a
// planner would pick a scan if it were cheaper.
func TestDownloadPathIsIndexed(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		fill := map[string]string{
			store.KindSQLite: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
				INSERT INTO %s SELECT %s FROM n`,
			store.KindPostgres: `INSERT INTO %s SELECT %s FROM generate_series(1, 20000) AS n(i)`,
		}[s.Kind()]
		require.NoError(t, s.DB().Exec(`INSERT INTO sources (name, seq, created_at) VALUES ('crm', 20000, CURRENT_TIMESTAMP)`).Error)
		// Records of a realistic size (~800 bytes of fields).
		fields := map[string]string{store.KindSQLite: `'{"name":"' || hex(zeroblob(400)) || '"}'`,
			store.KindPostgres: `convert_to('{"name":"' || repeat('x', 800) || '"}', 'UTF8')`}[s.Kind()]
		require.NoError(t, s.DB().Exec(fmt.Sprintf(fill,
			`records (source, entity, id, version, fields, hash, "partition", seq, pass)`,
			`'crm', 'account', 'id' || i, '1', `+fields+`, 'h', 'account/owner=u' || (i % 50), i, 1`)).Error)
		require.NoError(t, s.DB().Exec(fmt.Sprintf(fill,
			`partition_items (source, "partition", entity, id, seq, removed, updated_at)`,
			`'crm', 'account/owner=u' || (i % 50), 'account', 'id' || i, i, i % 10 = 0, CURRENT_TIMESTAMP`)).Error)
		require.NoError(t, s.DB().Exec("ANALYZE").Error)

		tests := []struct {
			name  string
			since map[string]int64
		}{
			{"a full sync of one partition", map[string]int64{"account/owner=u7": 0}},
			{"an incremental sync of three partitions", map[string]int64{"account/owner=u1": 100, "account/owner=u2": 19000, "account/*": 5}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				query, args := store.ChangesQuery("crm", tt.since, 100)
				if s.Kind() == store.KindSQLite {
					lines := sqlitePlan(t, s.ReadDB(), query, args)
					text := strings.Join(lines, "\n")
					t.Log(text)
					assert.Equal(t, len(tt.since), strings.Count(text, "USING INDEX idx_items_seq (source=? AND partition=? AND seq>?)"),
						"each partition is an index range")
					assert.Contains(t, text, "SEARCH r USING INDEX sqlite_autoindex_records_1 (source=? AND entity=? AND id=?)")
					for _, l := range lines {
						assert.NotRegexp(t, `^SCAN (partition_items|records|r)\b`, l)
					}
					return
				}
				// The plan for these values, and the generic plan the hub's
				// sessions use (plan_cache_mode = force_generic_plan): a
				// prepared statement, explained as the session executes it.
				var custom string
				require.NoError(t, s.ReadDB().Raw("EXPLAIN (FORMAT JSON) "+query, args...).Row().Scan(&custom))
				generic := explainPrepared(t, s, query, args)
				for _, raw := range []string{custom, generic} {
					assertItemsByIndex(t, raw, len(tt.since))
				}
			})
		}
	})
}

// sqlitePlan returns the lines of SQLite's EXPLAIN QUERY PLAN of query.
func sqlitePlan(t *testing.T, db *gorm.DB, query string, args []any) []string {
	t.Helper()
	var plan []struct {
		ID, Parent, Notused int
		Detail              string
	}
	require.NoError(t, db.Raw("EXPLAIN QUERY PLAN "+query, args...).Scan(&plan).Error)
	lines := make([]string, len(plan))
	for i, p := range plan {
		lines[i] = p.Detail
	}
	return lines
}

// explainPrepared returns EXPLAIN EXECUTE of query (? placeholders)
// prepared on one of the store's own PostgreSQL sessions.
func explainPrepared(t *testing.T, s *store.Store, query string, args []any) string {
	t.Helper()
	ctx := authCtx(t)
	conn, err := s.SQLDB().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var mode string
	require.NoError(t, conn.QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&mode))
	require.Equal(t, "force_generic_plan", mode, "the hub's sessions plan generically")
	n := 0
	numbered := regexp.MustCompile(`\?`).ReplaceAllStringFunc(query, func(string) string { n++; return fmt.Sprintf("$%d", n) })
	_, err = conn.ExecContext(ctx, "PREPARE changes_q AS "+numbered)
	require.NoError(t, err)
	defer conn.ExecContext(ctx, "DEALLOCATE changes_q") //nolint:errcheck
	lits := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			lits[i] = fmt.Sprint(v)
		}
	}
	var raw string
	require.NoError(t, conn.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) EXECUTE changes_q("+strings.Join(lits, ", ")+")").Scan(&raw))
	return raw
}

// assertItemsByIndex checks a PostgreSQL JSON plan of the changes query:
// no sequential scan of the mirror, each partition an index scan of
// idx_items_seq.
func assertItemsByIndex(t *testing.T, raw string, partitions int) {
	t.Helper()
	var doc []struct{ Plan pgPlan }
	require.NoError(t, json.Unmarshal([]byte(raw), &doc))
	nodes := doc[0].Plan.flatten()
	itemsByIndex := 0
	for _, n := range nodes {
		t.Logf("%s on %s using %s", n.NodeType, n.RelationName, n.IndexName)
		assert.False(t, n.NodeType == "Seq Scan" && (n.RelationName == "partition_items" || n.RelationName == "records"),
			"no sequential scan of %s", n.RelationName)
		if n.RelationName == "partition_items" && n.IndexName == "idx_items_seq" &&
			(n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan" || n.NodeType == "Bitmap Index Scan") {
			itemsByIndex++
		}
	}
	assert.Equal(t, partitions, itemsByIndex, "each partition is an index scan of idx_items_seq")
}

type pgPlan struct {
	NodeType     string   `json:"Node Type"`
	RelationName string   `json:"Relation Name"`
	IndexName    string   `json:"Index Name"`
	Plans        []pgPlan `json:"Plans"`
}

func (p pgPlan) flatten() []pgPlan {
	out := []pgPlan{p}
	for _, c := range p.Plans {
		out = append(out, c.flatten()...)
	}
	return out
}

// TestWaitingMutationsAreReadAlongTheirIndex proves with the planner's own
// words that planning reads the waiting mutations through
// idx_push_mutations_waiting, never by scanning push_mutations, when the
// table holds far more applied mutations than waiting ones (analyzed): a
// plan's reads must not grow with the mutations applied before.
func TestWaitingMutationsAreReadAlongTheirIndex(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		fill := map[string]string{
			store.KindSQLite: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)
				INSERT INTO push_mutations (source, device_id, mutation_id, user_id, entity, op, record_id, status, created_at)
				SELECT 'crm', 1, 'm' || i, 1, 'account', 'create', 'r' || i,
					CASE WHEN i > 29000 THEN 'pending' WHEN i % 1000 = 0 THEN 'conflict' ELSE 'applied' END, CURRENT_TIMESTAMP FROM n`,
			store.KindPostgres: `INSERT INTO push_mutations (source, device_id, mutation_id, user_id, entity, op, record_id, status, created_at)
				SELECT 'crm', 1, 'm' || i, 1, 'account', 'create', 'r' || i,
					CASE WHEN i > 29000 THEN 'pending' WHEN i % 1000 = 0 THEN 'conflict' ELSE 'applied' END, now()
				FROM generate_series(1, 30000) AS n(i)`,
		}[s.Kind()]
		require.NoError(t, s.DB().Exec(fill).Error)
		require.NoError(t, s.DB().Exec(`INSERT INTO push_mutation_bodies (push_mutation_id, fields) SELECT id, ? FROM push_mutations`,
			[]byte(`{"name":"`+strings.Repeat("x", 400)+`"}`)).Error)
		require.NoError(t, s.DB().Exec("ANALYZE").Error)
		texts, args := s.WaitingQueries("crm", 801, 29800)
		for i, query := range texts {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				if s.Kind() == store.KindSQLite {
					lines := sqlitePlan(t, s.DB(), query, args[i])
					text := strings.Join(lines, "\n")
					t.Log(query, "\n", text)
					assert.Contains(t, text, "INDEX idx_push_mutations_waiting (source=? AND status=?")
					assert.NotContains(t, text, "TEMP B-TREE", "rows come in id order along the index")
					for _, l := range lines {
						assert.NotRegexp(t, `^SCAN push_mutations\b`, l)
					}
					return
				}
				raw := explainPrepared(t, s, query, args[i])
				var doc []struct{ Plan pgPlan }
				require.NoError(t, json.Unmarshal([]byte(raw), &doc))
				byIndex := false
				for _, n := range doc[0].Plan.flatten() {
					t.Logf("%s on %s using %s", n.NodeType, n.RelationName, n.IndexName)
					assert.False(t, n.NodeType == "Seq Scan" && n.RelationName == "push_mutations", "no sequential scan of push_mutations")
					byIndex = byIndex || n.RelationName == "push_mutations" && n.IndexName == "idx_push_mutations_waiting"
				}
				assert.True(t, byIndex, "push_mutations read through idx_push_mutations_waiting")
			})
		}
	})
}
