package sdktest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"

	"github.com/google/uuid"

	"github.com/synchub/synchub/sdk"
)

// filesRoundTripCase: a file written on a record (several chunks long) is
// listed from the cursor taken before it was written, and reads back whole
// and from offsets. The record is Config.FileRecord, or the first one a
// fetch finds.
func filesRoundTripCase(h *harness, _ EntityConfig) {
	h.require(sdk.CapListFiles, sdk.CapReadFile, sdk.CapWriteFile)
	ref := h.cfg.FileRecord
	if ref.ID == "" {
		h.require(sdk.CapFetch)
		for _, e := range h.cfg.Entities {
			if recs := recordsOf(h.pass(sdk.FetchRequest{Entity: e.Name, PageSize: h.cfg.PageSize})); len(recs) > 0 {
				ref = sdk.RecordRef{Entity: e.Name, ID: recs[0].ID}
				break
			}
		}
	}
	if ref.ID == "" {
		h.Skipf("no record to attach a file to")
	}
	_, cursor := h.listFiles("")
	content := make([]byte, 4*sdk.ChunkBytes+1234) // over 4 MiB: several chunks each way
	for i := range content {
		content[i] = byte(i * 31 % 251)
	}
	write := sdk.WriteFileRequest{Record: ref, Name: "sdktest.bin", MimeType: "application/octet-stream",
		Size: int64(len(content)), Key: "sdktest-" + uuid.NewString()}
	f, err := h.client.WriteFile(h.ctx, write, bytes.NewReader(content))
	if err != nil {
		h.Fatalf("WriteFile on %s %s: %v", ref.Entity, ref.ID, err)
	}
	// The hub sends a write again, with the same key, when it lost the
	// answer: one file, the same one.
	again, err := h.client.WriteFile(h.ctx, write, bytes.NewReader(content))
	if err != nil {
		h.Errorf("WriteFile again with the same key (a retry after a lost answer): %v", err)
	} else if again.ID != f.ID {
		h.Errorf("WriteFile again with the same key made file %s beside %s: a retried write must answer the file the key already made", again.ID, f.ID)
	}
	if f.ID == "" || f.Size != int64(len(content)) {
		h.Errorf("WriteFile answers id %q and size %d for %d bytes", f.ID, f.Size, len(content))
	}
	if h.cfg.FileHash != nil {
		if want := h.cfg.FileHash(content); f.Hash != want {
			h.Errorf("the file's hash is %q, want %q (Config.FileHash of the content)", f.Hash, want)
		}
	} else if sum := sha256.Sum256(content); len(f.Hash) == 64 && f.Hash != hex.EncodeToString(sum[:]) {
		h.Errorf("the file's hash %s looks like a sha256 but is not the content's", f.Hash)
	}
	listed, _ := h.listFiles(cursor)
	if !slices.ContainsFunc(listed, func(l sdk.File) bool { return l.ID == f.ID && l.Record.ID == ref.ID }) {
		h.Errorf("ListFiles from the cursor before the write does not list file %s on %s", f.ID, ref.ID)
	}
	var named []string
	for _, l := range listed {
		if l.Record.ID == ref.ID && l.Name == write.Name {
			named = append(named, l.ID)
		}
	}
	if len(named) > 1 {
		h.Errorf("after one write and its retry, %s %s has %d files named %s: %v", ref.Entity, ref.ID, len(named), write.Name, named)
	}
	n := int64(len(content))
	for _, r := range []struct{ off, length int64 }{{0, 0}, {sdk.ChunkBytes + 7, 1000}, {n - 10, 0}} {
		rc, _, err := h.client.ReadFile(h.ctx, sdk.ReadFileRequest{ID: f.ID, Offset: r.off, Length: r.length})
		if err != nil {
			h.Fatalf("ReadFile(%s, offset %d, length %d): %v", f.ID, r.off, r.length, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		want := content[r.off:]
		if r.length > 0 {
			want = want[:r.length]
		}
		if err != nil || !bytes.Equal(got, want) {
			h.Errorf("ReadFile(%s, offset %d, length %d) gives %d bytes (error %v), want %d bytes of the content",
				f.ID, r.off, r.length, len(got), err, len(want))
		}
	}
}

// listFiles runs one ListFiles call and returns its files and final cursor.
func (h *harness) listFiles(cursor string) (files []sdk.File, next string) {
	h.Helper()
	done := false
	err := h.client.ListFiles(h.ctx, sdk.ListFilesRequest{Cursor: cursor}, func(pg sdk.FilePage) error {
		files, next, done = append(files, pg.Files...), pg.Cursor, pg.Done
		return nil
	})
	if err != nil {
		h.Fatalf("ListFiles(%q): %v", cursor, err)
	}
	if !done {
		h.Fatalf("ListFiles(%q) ends without a Done page", cursor)
	}
	return files, next
}
