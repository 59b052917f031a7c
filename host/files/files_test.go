package files_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
	"github.com/synchub/synchub/connectors/dropbox/emulator"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pattern is n bytes of a repeating, position-dependent pattern.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

const bigPath = "/synchub/account/Account 3_acc-0003/video.bin"

// TestFilePipeline runs the file stage end to end: memconn's own
// attachments and a Dropbox document store attached to it, reaching two
// users' devices through the hub's HTTP API.
func TestFilePipeline(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{cacheBytes: -1})
		// alice (u1) owns acc-0003, bob (u2) acc-0001 and acc-0004.
		priceList := pattern(300<<10, 1)
		e.attach("acc-0003", "price list.pdf", priceList)
		e.attach("acc-0003", "empty.txt", nil)
		emoji := []byte("grüße 😀\n")
		e.attach("acc-0003", "Ünïcødé 😀.txt", emoji)
		report := pattern(200<<10, 2)
		e.dbx.PutFile("/synchub/account/Account 3_acc-0003/report.pdf", report)
		e.dbx.PutFile("/synchub/account/Account 3_acc-0003/spare.pdf", pattern(1000, 3))
		const bigSize = 5 << 30
		e.dbx.PutLargeFile(bigPath, bigSize)
		e.dbx.PutFile("/synchub/account/loose.pdf", []byte("not on a record"))
		e.sync()

		alice := e.device("alice", "alice-phone")
		bob := e.device("bob", "bob-phone")
		alice.sync()
		bob.sync()

		t.Run("a_device_sees_exactly_the_files_of_its_visible_records", func(t *testing.T) {
			assert.ElementsMatch(t, []string{"price list.pdf", "empty.txt", "Ünïcødé 😀.txt", "report.pdf", "spare.pdf", "video.bin"},
				alice.names())
			for _, f := range alice.files {
				assert.Equal(t, "account", f.Record.Entity)
				assert.Equal(t, "acc-0003", f.Record.ID)
			}
			require.NotEmpty(t, bob.files, "bob sees the seeded Dropbox files of acc-0001")
			for _, f := range bob.files {
				assert.Equal(t, "acc-0001", f.Record.ID, "bob owns acc-0001 and acc-0004; acc-0002 is u3's")
				assert.Equal(t, "docs", f.Source)
			}
			_, pl := alice.file("price list.pdf")
			assert.Equal(t, "crm", pl.Source)
			assert.Equal(t, sha(priceList), pl.Hash, "memconn's hash is the content's SHA-256")
			_, rp := alice.file("report.pdf")
			assert.Equal(t, "docs", rp.Source)
			assert.Equal(t, contenthash.Of(report), rp.Hash, "Dropbox's content hash")
			assert.EqualValues(t, len(report), rp.Size)
			assert.Equal(t, "application/pdf", rp.MimeType)
			assert.NotNil(t, rp.ModifiedAt)
		})

		t.Run("eager_and_on_demand_as_the_rules_say_and_quota_never_exceeded", func(t *testing.T) {
			_, big := alice.file("video.bin")
			assert.Equal(t, [2]string{"on_demand", "too_large"}, [2]string{big.Mode, big.Status})
			for _, d := range []*device{alice, bob} {
				var eager int64
				for _, f := range d.files {
					switch f.Mode {
					case "eager":
						eager += f.Size
						assert.Equal(t, "ok", f.Status)
					case "on_demand":
						assert.Contains(t, []string{"filtered", "too_large", "quota_exceeded"}, f.Status, f.Name)
					default:
						t.Errorf("file %s has mode %q", f.Name, f.Mode)
					}
				}
				assert.LessOrEqual(t, eager, int64(quota))
			}
			var exceeded int
			for _, f := range alice.files {
				if f.Status == "quota_exceeded" {
					exceeded++
				}
			}
			assert.Equal(t, 1, exceeded, "300 KiB + 200 KiB of eager files do not both fit in 400 KiB: %v", alice.files)
			for _, f := range bob.files {
				if f.MimeType == "image/jpeg" {
					assert.Equal(t, [2]string{"on_demand", "filtered"}, [2]string{f.Mode, f.Status}, f.Name)
				}
			}
		})

		t.Run("the_admin_sees_orphans_and_files_of_records_that_do_not_exist", func(t *testing.T) {
			root := e.login("root", "admin-laptop")
			resp, data := e.read("GET", "/v1/admin/sources/docs/files/problems", root, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
			var p struct {
				Feed    string `json:"feed"`
				Orphans []struct {
					Path string `json:"path"`
				} `json:"orphans"`
				Unresolved []struct {
					Record  struct{ Entity, ID, Name string } `json:"record"`
					Problem string                            `json:"problem"`
				} `json:"unresolved"`
				Listing struct {
					Files int64 `json:"files"`
				} `json:"listing"`
			}
			require.NoError(t, json.Unmarshal(data, &p))
			assert.Equal(t, "crm", p.Feed)
			require.Len(t, p.Orphans, 1)
			assert.Equal(t, "/synchub/account/loose.pdf", p.Orphans[0].Path)
			require.NotEmpty(t, p.Unresolved)
			for _, u := range p.Unresolved {
				assert.Equal(t, "acc-9999", u.Record.ID)
				assert.Equal(t, "Ghost", u.Record.Name)
				assert.Equal(t, "missing_record", u.Problem)
			}
			assert.Positive(t, p.Listing.Files)
			resp, _ = e.read("GET", "/v1/admin/sources/docs/files/problems", alice.token, nil)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		})

		t.Run("a_download_interrupted_half_way_resumes_with_range_and_the_bytes_match", func(t *testing.T) {
			for _, name := range []string{"price list.pdf", "report.pdf"} {
				id, f := alice.file(name)
				resp := e.do("GET", "/v1/files/"+url.PathEscape(id)+"/content", alice.token, nil)
				require.Equal(t, http.StatusOK, resp.StatusCode)
				etag := resp.Header.Get("ETag")
				require.NotEmpty(t, etag)
				assert.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
				assert.Equal(t, strconv.FormatInt(f.Size, 10), resp.Header.Get("Content-Length"))
				half := make([]byte, f.Size/2)
				_, err := io.ReadFull(resp.Body, half)
				require.NoError(t, err)
				resp.Body.Close() // the connection drops half-way

				resp2, rest := alice.content(id, "Range", "bytes="+strconv.Itoa(len(half))+"-", "If-Range", etag)
				require.Equal(t, http.StatusPartialContent, resp2.StatusCode, string(rest))
				assert.Equal(t, "bytes "+strconv.Itoa(len(half))+"-"+strconv.FormatInt(f.Size-1, 10)+"/"+strconv.FormatInt(f.Size, 10),
					resp2.Header.Get("Content-Range"))
				assert.Equal(t, etag, resp2.Header.Get("ETag"))
				whole := append(half, rest...)
				switch f.Source {
				case "crm":
					assert.Equal(t, f.Hash, sha(whole), name)
				default:
					assert.Equal(t, f.Hash, contenthash.Of(whole), name)
				}
			}
		})

		t.Run("a_stale_if_range_gets_the_whole_file", func(t *testing.T) {
			id, f := alice.file("report.pdf")
			resp, data := alice.content(id, "Range", "bytes=10-", "If-Range", `"an-old-version"`)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.EqualValues(t, f.Size, len(data))
		})

		t.Run("if_none_match_answers_304", func(t *testing.T) {
			id, f := alice.file("price list.pdf")
			resp, data := alice.content(id, "If-None-Match", `"`+f.Hash+`"`)
			assert.Equal(t, http.StatusNotModified, resp.StatusCode)
			assert.Empty(t, data)
		})

		t.Run("a_range_beyond_the_end_is_416", func(t *testing.T) {
			id, f := alice.file("price list.pdf")
			resp, _ := alice.content(id, "Range", "bytes="+strconv.FormatInt(f.Size, 10)+"-")
			assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)
			assert.Equal(t, "bytes */"+strconv.FormatInt(f.Size, 10), resp.Header.Get("Content-Range"))
			resp, _ = alice.content(id, "Range", "bytes=0-9")
			assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
			assert.Equal(t, "10", resp.Header.Get("Content-Length"))
		})

		t.Run("a_zero_byte_file_downloads_empty", func(t *testing.T) {
			id, f := alice.file("empty.txt")
			assert.Zero(t, f.Size)
			assert.Equal(t, "eager", f.Mode)
			resp, data := alice.content(id)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Empty(t, data)
			assert.Equal(t, "0", resp.Header.Get("Content-Length"))
		})

		t.Run("non_ascii_and_emoji_names_round_trip", func(t *testing.T) {
			id, _ := alice.file("Ünïcødé 😀.txt")
			resp, data := alice.content(id)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, emoji, data)
			disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
			require.NoError(t, err, resp.Header.Get("Content-Disposition"))
			assert.Equal(t, "attachment", disp)
			assert.Equal(t, "Ünïcødé 😀.txt", params["filename"], "filename* (RFC 6266) carries the UTF-8 name")
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		})

		t.Run("a_file_of_a_record_the_caller_cannot_see_is_404", func(t *testing.T) {
			id, _ := alice.file("price list.pdf")
			resp, _ := bob.content(id)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			resp, _ = bob.content("crm:no-such-file")
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			resp, _ = e.read("GET", "/v1/files/"+url.PathEscape(id)+"/content", "", nil)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})

		t.Run("a_multi_gigabyte_file_streams_a_high_range_with_bounded_memory", func(t *testing.T) {
			id, f := alice.file("video.bin")
			require.EqualValues(t, bigSize, f.Size)
			const off, n = int64(bigSize) - 40<<20 - 12345, int64(32 << 20)
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			resp := e.do("GET", "/v1/files/"+url.PathEscape(id)+"/content", alice.token, nil,
				"Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10))
			defer resp.Body.Close()
			require.Equal(t, http.StatusPartialContent, resp.StatusCode)
			gen := emulator.NewGenerated(bigPath, bigSize)
			got, want := make([]byte, 256<<10), make([]byte, 256<<10)
			var read int64
			for read < n {
				k, err := io.ReadFull(resp.Body, got[:min(int64(len(got)), n-read)])
				require.NoError(t, err)
				_, _ = gen.ReadAt(want[:k], off+read)
				require.Equal(t, want[:k], got[:k], "bytes at offset %d", off+read)
				read += int64(k)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(n/2),
				"streaming %d MiB allocated %d MiB: something holds the file in memory", n>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
		})

		t.Run("an_upload_lands_in_the_right_dropbox_folder_and_reaches_another_device", func(t *testing.T) {
			tablet := e.device("alice", "alice-tablet")
			tablet.sync()
			body := pattern(70<<10, 9)
			const name = "Straße 🚀.pdf"
			path := "/v1/sources/crm/files?entity=account&id=acc-0003&name=" + url.QueryEscape(name)
			resp, data := e.read("POST", path, alice.token, body, "Content-Type", "application/pdf", "Idempotency-Key", "up-1")
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
			var up struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				SHA256 string `json:"sha256"`
				FileID string `json:"file_id"`
				Size   int64  `json:"size"`
			}
			require.NoError(t, json.Unmarshal(data, &up))
			assert.Equal(t, sha(body), up.SHA256)
			assert.EqualValues(t, len(body), up.Size)

			waitFor(t, "the upload to reach Dropbox", func() bool {
				_, data := e.read("GET", "/v1/sources/crm/files/uploads/"+up.ID, alice.token, nil)
				require.NoError(t, json.Unmarshal(data, &up))
				require.NotEqual(t, "failed", up.Status, string(data))
				return up.Status == "done"
			})
			m, ok := e.dbx.Stat("/synchub/account/Account 3_acc-0003/" + name)
			require.True(t, ok, "the file is in the record's folder: %v", e.dbx.Files())
			assert.Equal(t, "/synchub/account/Account 3_acc-0003/"+name, m.PathDisplay)
			assert.Equal(t, body, e.dbx.Content(m.PathDisplay))

			resp, data = e.read("POST", path, alice.token, body, "Idempotency-Key", "up-1")
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
			assert.Contains(t, string(data), `"status":"done"`, "a repeated upload answers the first one")

			ops := tablet.sync()
			require.Len(t, ops, 1, "the tablet gets the new file, nothing else: %v", ops)
			f := tablet.files[ops[0].ID]
			assert.Equal(t, name, f.Name)
			assert.Equal(t, "docs", f.Source)
			assert.Equal(t, up.FileID, ops[0].ID)
			_, got := tablet.content(ops[0].ID)
			assert.Equal(t, body, got)
			assert.Empty(t, bob.sync(), "bob does not see alice's record")
			alice.sync()
		})

		t.Run("bad_uploads_are_refused", func(t *testing.T) {
			for _, name := range []string{"../../etc/passwd", "a/b.pdf", `a\b.pdf`, "..", ".", "", " lead.pdf", "tab\t.pdf"} {
				resp, data := e.read("POST", "/v1/sources/crm/files?entity=account&id=acc-0003&name="+url.QueryEscape(name),
					alice.token, []byte("x"))
				assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "name %q: %s", name, data)
			}
			resp, _ := e.read("POST", "/v1/sources/crm/files?entity=account&id=acc-0001&name=x.pdf", alice.token, []byte("x"))
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "bob's record")
			resp, _ = e.read("POST", "/v1/sources/crm/files?entity=account&id=acc-0404&name=x.pdf", alice.token, []byte("x"))
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no such record")
			resp, _ = e.read("POST", "/v1/sources/docs/files?entity=account&id=acc-0003&name=x.pdf", alice.token, []byte("x"))
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "docs is no feed of alice's")
		})

		t.Run("the_back_end_losing_a_file_is_404_and_a_remove", func(t *testing.T) {
			id, _ := alice.file("spare.pdf")
			e.dbx.InjectFault(emulator.Fault{Route: "files/download", LoseFile: true})
			resp, data := alice.content(id)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(data))
			ops := alice.sync()
			require.Len(t, ops, 1)
			assert.Equal(t, op{Partition: "account/owner=u1", Entity: "_file", ID: id, Op: "remove"},
				op{Partition: ops[0].Partition, Entity: ops[0].Entity, ID: ops[0].ID, Op: ops[0].Op})
			resp, _ = alice.content(id)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		})

		t.Run("an_owner_move_moves_the_files", func(t *testing.T) {
			moved := len(alice.files)
			require.Positive(t, moved)
			e.mem.Put("account", map[string]any{"id": "acc-0003", "owner": map[string]any{"entity": "user", "id": "u2"}})
			require.NoError(t, e.h.Puller().PullSource(e.ctx, "crm", nil, false))
			alice.sync()
			assert.Empty(t, alice.files, "alice no longer sees acc-0003 or its files")
			before := len(bob.files)
			bob.sync()
			assert.Len(t, bob.files, before+moved)
			id, _ := bob.file("price list.pdf")
			resp, _ := bob.content(id, "Range", "bytes=0-0")
			assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
			resp, _ = alice.content(id)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		})

		t.Run("a_deleted_dropbox_folder_takes_its_files_out_of_the_feed", func(t *testing.T) {
			var inFolder []string
			for id, f := range bob.files {
				if f.Record.ID == "acc-0001" {
					inFolder = append(inFolder, id)
				}
			}
			require.NotEmpty(t, inFolder)
			require.True(t, e.dbx.DeleteFile("/synchub/account/Account 1_acc-0001"))
			res, err := e.h.Files().SyncSource(e.ctx, "docs", false)
			require.NoError(t, err)
			assert.False(t, res.Full)
			ops := bob.sync()
			var removed []string
			for _, o := range ops {
				if o.Op == "remove" {
					removed = append(removed, o.ID)
				}
			}
			assert.ElementsMatch(t, inFolder, removed)
		})

		t.Run("a_file_changed_since_its_listing_comes_whole_with_its_new_etag", func(t *testing.T) {
			id, f := bob.file("report.pdf")
			changed := pattern(5000, 42)
			e.dbx.PutFile("/synchub/account/Account 3_acc-0003/report.pdf", changed)
			resp, data := bob.content(id, "Range", "bytes=100-", "If-Range", `"`+f.Hash+`"`)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "not a range of other content")
			assert.Equal(t, changed, data)
			assert.Equal(t, `"`+contenthash.Of(changed)+`"`, resp.Header.Get("ETag"))
			waitFor(t, "the listing the read triggered", func() bool {
				bob.sync()
				return bob.files[id].Hash == contenthash.Of(changed)
			})
			assert.EqualValues(t, len(changed), bob.files[id].Size)
		})

		t.Run("an_expired_cursor_lists_in_full_and_reconciles", func(t *testing.T) {
			e.dbx.ExpireCursors()
			e.dbx.PutFile("/synchub/account/Account 3_acc-0003/late.txt", []byte("late"))
			res, err := e.h.Files().SyncSource(e.ctx, "docs", false)
			require.NoError(t, err)
			assert.True(t, res.Full)
			bob.sync()
			_, f := bob.file("late.txt")
			assert.Equal(t, "eager", f.Mode)
		})
	})
}
