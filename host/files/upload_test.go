package files_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/connectors/dropbox/emulator"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

type upload struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	FileID string `json:"file_id"`
	Error  string `json:"error"`
}

func (d *device) upload(record, name string, body []byte) upload {
	d.e.t.Helper()
	resp, data := d.e.read("POST", "/v1/sources/crm/files?entity=account&id="+url.QueryEscape(record)+"&name="+url.QueryEscape(name),
		d.token, body, "Content-Type", "text/plain; charset=utf-8")
	require.Equal(d.e.t, http.StatusAccepted, resp.StatusCode, string(data))
	var u upload
	require.NoError(d.e.t, json.Unmarshal(data, &u))
	return u
}

// await polls an upload until it is no longer pending.
func (d *device) await(id string) upload {
	d.e.t.Helper()
	var u upload
	waitFor(d.e.t, "upload "+id, func() bool {
		resp, data := d.e.read("GET", "/v1/sources/crm/files/uploads/"+id, d.token, nil)
		require.Equal(d.e.t, http.StatusOK, resp.StatusCode, string(data))
		require.NoError(d.e.t, json.Unmarshal(data, &u))
		return u.Status != store.UploadPending
	})
	return u
}

func spooled(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "uploads", "*.upload"))
	require.NoError(t, err)
	return names
}

func TestUploads(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{cacheBytes: -1, noStart: true})
		e.mem.Put("account", map[string]any{"id": "acc_5", "name": "Under score", "owner": map[string]any{"entity": "user", "id": "u1"}})
		e.sync()
		alice := e.device("alice", "alice-phone")
		alice.sync()

		var accepted upload
		body := []byte("written while no worker runs\n")
		t.Run("an_accepted_upload_is_on_disk_and_in_the_store_before_any_worker_runs", func(t *testing.T) {
			accepted = alice.upload("acc-0003", "notes.txt", body)
			assert.Equal(t, store.UploadPending, accepted.Status)
			assert.Len(t, spooled(t, e.dataDir), 1)
			_, ok := e.dbx.Stat("/synchub/account/Account 3_acc-0003/notes.txt")
			assert.False(t, ok)
		})
		e.start()
		t.Run("the_queue_delivers_it_once_it_runs", func(t *testing.T) {
			u := alice.await(accepted.ID)
			require.Equal(t, store.UploadDone, u.Status, u.Error)
			// No file of acc-0003 was ever listed from docs, so the folder
			// takes the record's name field.
			assert.Equal(t, body, e.dbx.Content("/synchub/account/Account 3_acc-0003/notes.txt"))
			assert.Empty(t, spooled(t, e.dataDir), "the spool is emptied")
			alice.sync()
			id, f := alice.file("notes.txt")
			assert.Equal(t, u.FileID, id)
			assert.Equal(t, "eager", f.Mode)
		})
		t.Run("a_back_end_refusal_fails_the_upload_with_its_reason", func(t *testing.T) {
			u := alice.upload("acc_5", "x.txt", []byte("x"))
			u = alice.await(u.ID)
			assert.Equal(t, store.UploadFailed, u.Status)
			assert.Contains(t, u.Error, "underscore")
			assert.Empty(t, spooled(t, e.dataDir))
		})
		t.Run("a_body_over_the_limit_or_short_of_its_length_is_refused", func(t *testing.T) {
			send := func(length int64, body string) *httptest.ResponseRecorder {
				req := httptest.NewRequest("POST", "/v1/sources/crm/files?entity=account&id=acc-0003&name=big.bin", strings.NewReader(body))
				req.ContentLength = length
				req.Header.Set("Authorization", "Bearer "+alice.token)
				rec := httptest.NewRecorder()
				e.h.Handler().ServeHTTP(rec, req)
				return rec
			}
			rec := send(2<<30, "x")
			assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
			rec = send(100, "only ten b")
			assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), "shorter than its Content-Length")
			assert.Empty(t, spooled(t, e.dataDir))
		})
		t.Run("another_devices_upload_is_not_found", func(t *testing.T) {
			bob := e.device("bob", "bob-phone")
			resp, _ := e.read("GET", "/v1/sources/crm/files/uploads/"+accepted.ID, bob.token, nil)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		})
	})
}

// TestContentCache: whole files read once are served from data_dir's
// cache, least recently used ones leave it first, and it stays within its
// size.
func TestContentCache(t *testing.T) {
	const size, limit = 100 << 10, 600 << 10
	e := newEnv(t, storetest.SQLite(t), envOptions{cacheBytes: limit})
	names := []string{"f1.pdf", "f2.pdf", "f3.pdf", "f4.pdf", "f5.pdf", "f6.pdf", "f7.pdf"}
	content := map[string][]byte{}
	for i, n := range names {
		content[n] = pattern(size, byte(i))
		e.dbx.PutFile("/synchub/account/Account 3_acc-0003/"+n, content[n])
	}
	e.sync()
	alice := e.device("alice", "alice-phone")
	alice.sync()
	get := func(name string, headers ...string) (*http.Response, []byte) {
		id, _ := alice.file(name)
		return alice.content(id, headers...)
	}
	for _, n := range names[:6] {
		resp, data := get(n)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, content[n], data)
	}
	get("f1.pdf") // f1 is now the most recently used, f2 the least
	get("f7.pdf") // evicts f2

	var total int64
	ents, err := os.ReadDir(filepath.Join(e.dataDir, "file-cache"))
	require.NoError(t, err)
	for _, ent := range ents {
		require.False(t, strings.HasSuffix(ent.Name(), ".tmp"))
		info, err := ent.Info()
		require.NoError(t, err)
		total += info.Size()
	}
	assert.Len(t, ents, 6)
	assert.LessOrEqual(t, total, int64(limit))

	before := e.dbx.Requests()
	e.dbx.InjectFault(emulator.Fault{Route: "files/download", LoseFile: true})
	resp, data := get("f1.pdf", "Range", "bytes=10-19")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, content["f1.pdf"][10:20], data)
	assert.Equal(t, before, e.dbx.Requests(), "served from the cache: Dropbox was not asked")
	resp, _ = get("f2.pdf")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "f2 was evicted: Dropbox was asked, and had lost it")
}
