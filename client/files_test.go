package client

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func content(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func fileMetaFor(name, mode string) map[string]any {
	return map[string]any{"name": name, "mime_type": "application/pdf", "mode": mode,
		"record": map[string]any{"entity": "account", "id": "a1"}}
}

func TestFiles(t *testing.T) {
	t.Run("eager_files_are_fetched_by_the_worker_pool_and_verified", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "A"})
		want := map[string][]byte{}
		for i := range 15 {
			id := fmt.Sprintf("f%02d", i)
			want[id] = content(1000+i*100, byte(i))
			e.hub.PutFile("crm", id, "account/*", fileMetaFor(id+".pdf", "eager"), want[id])
		}
		rep := e.sync()
		assert.Equal(t, 15, rep.Files.Downloaded)
		assert.Zero(t, rep.Files.Failed)
		files, err := e.c.Files(e.ctx, "crm", "account", "a1")
		require.NoError(t, err)
		require.Len(t, files, 15)
		for _, f := range files {
			assert.Equal(t, fileDone, f.State, f.ID)
			got, err := os.ReadFile(f.LocalPath)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want[f.ID], got), f.ID)
			assert.True(t, strings.HasPrefix(f.LocalPath, filepath.Join(filepath.Dir(e.path), "files")))
		}
	})

	t.Run("an_interrupted_download_resumes_with_range_and_the_bytes_match", func(t *testing.T) {
		e := newEnv(t)
		data := content(300_000, 3)
		e.hub.PutFile("crm", "big", "account/*", fileMetaFor("big.bin", "eager"), data)
		e.hub.CutFile("big", 120_000)
		rep := e.sync()
		assert.Equal(t, 1, rep.Files.Failed, "a failed file does not fail the sync")
		fi, err := e.c.File(e.ctx, "big")
		require.NoError(t, err)
		assert.Equal(t, filePartial, fi.State)
		assert.Greater(t, fi.Downloaded, int64(0))

		e.reopen()
		rep = e.sync()
		assert.Equal(t, 1, rep.Files.Downloaded)
		ranges := e.hub.Ranges("big")
		require.Len(t, ranges, 2)
		assert.Equal(t, "", ranges[0])
		assert.Equal(t, fmt.Sprintf("bytes=%d-", fi.Downloaded), ranges[1])
		var buf bytes.Buffer
		require.NoError(t, e.c.GetFile(e.ctx, "big", &buf))
		assert.True(t, bytes.Equal(data, buf.Bytes()))
	})

	t.Run("content_that_does_not_match_its_hash_is_refused", func(t *testing.T) {
		e := newEnv(t)
		meta := fileMetaFor("x.bin", "eager")
		sum := sha256.Sum256([]byte("something else"))
		meta["hash"] = "sha256:" + hex.EncodeToString(sum[:])
		e.hub.PutFile("crm", "bad", "account/*", meta, content(5000, 1))
		rep := e.sync()
		assert.Equal(t, 1, rep.Files.Failed)
		fi, err := e.c.File(e.ctx, "bad")
		require.NoError(t, err)
		assert.Equal(t, fileFailed, fi.State)
		assert.Contains(t, fi.Error, ErrHashMismatch.Error())
		assert.Len(t, e.hub.Ranges("bad"), 2, "downloaded again once before giving up")
		assert.NoFileExists(t, e.c.contentPath("bad"))
	})

	t.Run("on_demand_files_are_listed_and_fetched_when_asked", func(t *testing.T) {
		e := newEnv(t)
		data := content(2048, 9)
		e.hub.PutFile("crm", "doc", "account/*", fileMetaFor("doc.pdf", "on_demand"), data)
		e.sync()
		fi, err := e.c.File(e.ctx, "doc")
		require.NoError(t, err)
		assert.Equal(t, fileRemote, fi.State)
		assert.Empty(t, e.hub.Ranges("doc"))
		var buf bytes.Buffer
		require.NoError(t, e.c.GetFile(e.ctx, "doc", &buf))
		assert.Equal(t, data, buf.Bytes())
		buf.Reset()
		require.NoError(t, e.c.GetFile(e.ctx, "doc", &buf))
		assert.Equal(t, data, buf.Bytes())
		assert.Len(t, e.hub.Ranges("doc"), 1, "the second read comes from disk")
	})

	t.Run("a_removed_file_loses_its_content", func(t *testing.T) {
		e := newEnv(t)
		e.hub.PutFile("crm", "gone", "account/*", fileMetaFor("g.pdf", "eager"), content(100, 1))
		e.sync()
		require.FileExists(t, e.c.contentPath("gone"))
		e.hub.Remove("crm", "_file", "gone")
		e.sync()
		assert.NoFileExists(t, e.c.contentPath("gone"))
		_, err := e.c.File(e.ctx, "gone")
		require.ErrorIs(t, err, ErrNotFound)
	})

	t.Run("an_attached_file_is_uploaded_once_its_record_exists_on_the_hub", func(t *testing.T) {
		e := newEnv(t)
		e.sync()
		id, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "A"})
		require.NoError(t, err)
		require.NoError(t, e.c.AttachFile(e.ctx, "crm", "account", id, "note.txt", "text/plain", strings.NewReader("hello")))
		e.sync()
		ups := e.hub.Uploads()
		require.Len(t, ups, 1)
		assert.Equal(t, "note.txt", ups[0].Name)
		assert.Equal(t, id, ups[0].ID)
		assert.Equal(t, "hello", string(ups[0].Content))
		st, err := e.c.Status(e.ctx)
		require.NoError(t, err)
		assert.Zero(t, st.Uploads)
	})
}

func TestVerifyHash(t *testing.T) {
	data := content(10_000, 5)
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	s256 := sha256.Sum256(data)
	m5 := md5.Sum(data)
	inner := sha256.Sum256(data) // one block: Dropbox hash is sha256(sha256(data))
	dbx := sha256.Sum256(inner[:])
	tests := []struct {
		name      string
		hash      string
		ok, known bool
	}{
		{"prefixed_sha256_matches", "sha256:" + hex.EncodeToString(s256[:]), true, true},
		{"bare_sha256_matches", hex.EncodeToString(s256[:]), true, true},
		{"md5_matches", "md5:" + hex.EncodeToString(m5[:]), true, true},
		{"dropbox_content_hash_matches", hex.EncodeToString(dbx[:]), true, true},
		{"a_wrong_digest_does_not", "sha256:" + strings.Repeat("0", 64), false, true},
		{"an_unknown_form_is_not_checked", "crc32c:abcd", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, known, err := verifyHash(path, tt.hash)
			require.NoError(t, err)
			assert.Equal(t, tt.known, known)
			assert.Equal(t, tt.ok, ok)
		})
	}
}
