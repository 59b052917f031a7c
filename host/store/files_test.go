package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// fileOp is a FileEntity op as a device sees it.
type fileOp struct {
	Partition, ID string
	Removed       bool
	Mode, Status  string
}

// fileOps returns the FileEntity ops of crm's partitions after since.
func fileOps(t *testing.T, s *store.Store, since map[string]int64) []fileOp {
	t.Helper()
	var out []fileOp
	_, _, err := s.Changes(ctxT(t), "crm", since, 1000, func(o store.ChangeOp) error {
		if o.Entity != store.FileEntity {
			return nil
		}
		op := fileOp{Partition: o.Partition, ID: o.ID, Removed: o.Removed}
		if !o.Removed {
			var f struct{ Mode, Status string }
			require.NoError(t, json.Unmarshal(o.Fields, &f))
			op.Mode, op.Status = f.Mode, f.Status
		}
		out = append(out, op)
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestFiles(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		_, err := s.EnsureEntityState(ctx, "crm", "account")
		require.NoError(t, err)
		put := func(recs ...store.MirrorRecord) {
			t.Helper()
			_, err := s.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: "account", Put: recs})
			require.NoError(t, err)
		}
		seq := func() int64 {
			n, err := s.SourceSeq(ctx, "crm")
			require.NoError(t, err)
			return n
		}
		since := func(n int64) map[string]int64 {
			return map[string]int64{"account/owner=u1": n, "account/owner=u2": n}
		}
		file := func(id, record string) store.File {
			return store.File{FileID: id, RecordEntity: "account", RecordID: record, Name: id, Size: 10, Version: "1"}
		}
		apply := func(c store.FileChanges) store.FileResult {
			t.Helper()
			if c.Source == "" {
				c.Source, c.Target = "docs", "crm"
			}
			res, err := s.ApplyFiles(ctx, c)
			require.NoError(t, err)
			return res
		}
		id := func(fileID string) string { return store.FileMirrorID("docs", fileID) }
		put(rec("a1", "1", "account/owner=u1"))

		t.Run("a_file_is_in_its_records_partition_and_a_missing_record_is_a_problem", func(t *testing.T) {
			res := apply(store.FileChanges{Files: []store.File{file("/r/a1/x", "a1"), file("/r/a2/y", "a2")}})
			assert.Equal(t, 2, res.Upserted)
			assert.Equal(t, []string{"account/owner=u1"}, res.Partitions)
			assert.Equal(t, []fileOp{{"account/owner=u1", id("/r/a1/x"), false, "on_demand", "ok"}}, fileOps(t, s, since(0)))
			_, problems, err := s.FileProblems(ctx, "docs", 10)
			require.NoError(t, err)
			require.Len(t, problems, 1)
			assert.Equal(t, store.ProblemMissingRecord, problems[0].Problem)
			assert.Equal(t, "a2", problems[0].RecordID)
		})
		t.Run("a_record_that_arrives_brings_its_files_along", func(t *testing.T) {
			from := seq()
			put(rec("a2", "1", "account/owner=u2"))
			assert.Equal(t, []fileOp{{"account/owner=u2", id("/r/a2/y"), false, "on_demand", "ok"}},
				fileOps(t, s, since(from))[0:1])
			_, problems, err := s.FileProblems(ctx, "docs", 10)
			require.NoError(t, err)
			assert.Empty(t, problems)
		})
		t.Run("an_owner_move_moves_the_files", func(t *testing.T) {
			from := seq()
			put(rec("a1", "2", "account/owner=u2"))
			assert.Equal(t, []fileOp{
				{"account/owner=u1", id("/r/a1/x"), true, "", ""},
				{"account/owner=u2", id("/r/a1/x"), false, "on_demand", "ok"},
			}, fileOps(t, s, since(from)))
			f, err := s.FileByMirrorID(ctx, id("/r/a1/x"))
			require.NoError(t, err)
			assert.Equal(t, "account/owner=u2", f.Partition)
		})
		t.Run("an_unchanged_listing_is_no_change", func(t *testing.T) {
			from := seq()
			apply(store.FileChanges{Files: []store.File{file("/r/a1/x", "a1")}})
			assert.Equal(t, from, seq())
		})
		t.Run("a_removed_record_takes_its_files_out_and_reports_them", func(t *testing.T) {
			from := seq()
			_, err := s.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: "account", Remove: []string{"a2"}})
			require.NoError(t, err)
			assert.Contains(t, fileOps(t, s, since(from)), fileOp{"account/owner=u2", id("/r/a2/y"), true, "", ""})
			_, problems, err := s.FileProblems(ctx, "docs", 10)
			require.NoError(t, err)
			require.Len(t, problems, 1)
			assert.Equal(t, "/r/a2/y", problems[0].FileID)
		})
		t.Run("a_deleted_folder_removes_the_files_under_it_only", func(t *testing.T) {
			apply(store.FileChanges{Files: []store.File{file("/r/a1/sub", "a1"), file("/r/a1x/z", "a1")},
				Orphans: []string{"/R/A1/Loose/o.txt", "/r/other.txt"}})
			from := seq()
			res := apply(store.FileChanges{Deleted: []string{"/r/a1"}})
			assert.Equal(t, 2, res.Removed, "/r/a1/x and /r/a1/sub, not /r/a1x/z")
			assert.ElementsMatch(t, []fileOp{
				{"account/owner=u2", id("/r/a1/x"), true, "", ""},
				{"account/owner=u2", id("/r/a1/sub"), true, "", ""},
			}, fileOps(t, s, since(from)))
			orphans, _, err := s.FileProblems(ctx, "docs", 10)
			require.NoError(t, err)
			require.Len(t, orphans, 1)
			assert.Equal(t, "/r/other.txt", orphans[0].Path)
		})
		t.Run("the_end_of_a_full_listing_removes_what_it_did_not_see", func(t *testing.T) {
			st, err := s.StartFileListing(ctx, "docs", "h")
			require.NoError(t, err)
			res := apply(store.FileChanges{Files: []store.File{file("/r/a1/new", "a1")}, Pass: st.FullPass, Reconcile: true,
				State: map[string]any{store.ColFileCursor: "c1", store.ColFileFullRunning: false}})
			assert.Equal(t, 2, res.Removed, "/r/a1x/z and /r/a2/y")
			n, err := s.CountFiles(ctx, "docs")
			require.NoError(t, err)
			assert.EqualValues(t, 1, n)
			orphans, _, err := s.FileProblems(ctx, "docs", 10)
			require.NoError(t, err)
			assert.Empty(t, orphans)
			st, err = s.FileSourceState(ctx, "docs")
			require.NoError(t, err)
			assert.Equal(t, "c1", st.Cursor)
			assert.False(t, st.FullRunning)
		})
	})
}

func TestFileQuota(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t)
		_, err := s.EnsureEntityState(ctx, "crm", "account")
		require.NoError(t, err)
		_, err = s.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: "account",
			Put: []store.MirrorRecord{rec("a1", "1", "account/owner=u1"), rec("a2", "1", "account/owner=u1")}})
		require.NoError(t, err)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		eager := func(id, record string, size int64, age int) store.File {
			mod := base.Add(-time.Duration(age) * time.Hour)
			return store.File{FileID: id, RecordEntity: "account", RecordID: record, Name: id, Size: size, Version: "1",
				ModifiedAt: &mod, RuleMode: store.FileEager, RuleStatus: store.FileOK, Quota: 100}
		}
		states := func() (map[string]string, int64) {
			t.Helper()
			out := map[string]string{}
			var total int64
			for _, o := range fileOps(t, s, map[string]int64{"account/owner=u1": 0}) {
				f, err := s.FileByMirrorID(ctx, o.ID)
				require.NoError(t, err)
				out[f.FileID] = o.Mode + "/" + o.Status
				if o.Mode == store.FileEager {
					total += f.Size
				}
			}
			return out, total
		}
		_, err = s.ApplyFiles(ctx, store.FileChanges{Source: "crm", Target: "crm", Files: []store.File{
			eager("f60", "a1", 60, 1), eager("f50", "a2", 50, 2), eager("f30", "a1", 30, 3),
			{FileID: "big", RecordEntity: "account", RecordID: "a1", Size: 500, RuleMode: store.FileOnDemand, RuleStatus: store.FileTooLarge, Quota: 100},
		}})
		require.NoError(t, err)
		got, total := states()
		assert.Equal(t, map[string]string{"f60": "eager/ok", "f50": "on_demand/quota_exceeded", "f30": "eager/ok",
			"big": "on_demand/too_large"}, got, "newest first; a smaller older file still fits")
		assert.LessOrEqual(t, total, int64(100))

		from, err := s.SourceSeq(ctx, "crm")
		require.NoError(t, err)
		_, err = s.ApplyFiles(ctx, store.FileChanges{Source: "crm", Target: "crm", Files: []store.File{eager("f40", "a2", 40, 0)}})
		require.NoError(t, err)
		got, total = states()
		assert.Equal(t, "eager/ok", got["f40"])
		assert.Equal(t, "eager/ok", got["f60"])
		assert.Equal(t, "on_demand/quota_exceeded", got["f30"], "pushed out by a newer file")
		assert.LessOrEqual(t, total, int64(100))
		ops := fileOps(t, s, map[string]int64{"account/owner=u1": from})
		require.Len(t, ops, 2, "the new file and the one whose status changed: %v", ops)
		assert.Equal(t, []string{store.FileMirrorID("crm", "f30"), store.FileMirrorID("crm", "f40")}, []string{ops[0].ID, ops[1].ID},
			"the demotion comes first: no prefix of the feed exceeds the quota")

		_, err = s.ApplyFiles(ctx, store.FileChanges{Source: "crm", Target: "crm", Gone: []string{"f60"}})
		require.NoError(t, err)
		got, total = states()
		assert.Equal(t, map[string]string{"f40": "eager/ok", "f50": "eager/ok", "f30": "on_demand/quota_exceeded",
			"big": "on_demand/too_large"}, got, "freed quota goes to the next newest file")
		assert.LessOrEqual(t, total, int64(100))
	})
}
