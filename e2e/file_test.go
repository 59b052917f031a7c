package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/client"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// eventually polls cond until it holds or the deadline passes.
func (w *world) eventually(what string, d time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-w.ctx.Done():
			w.t.Fatalf("waiting for %s: %v", what, w.ctx.Err())
		}
	}
}

// notesOf returns the emulator's annotations attached to record id.
func (w *world) notesOf(id string) []map[string]any {
	var out []map[string]any
	for _, nid := range w.crm.IDs("annotations") {
		row, ok := w.crm.Get("annotations", nid)
		if ok && strings.EqualFold(fmt.Sprint(row["_objectid_value"]), id) {
			out = append(out, row)
		}
	}
	return out
}

// TestAFileAttachedOnADeviceReachesTheCRMAndTheOtherDevice: alice attaches
// a file to one of her accounts on one device; the hub writes it to the
// CRM as a note with the same bytes, once; her other device gets the file
// in its feed and downloads the same bytes during its sync (eager files).
func TestAFileAttachedOnADeviceReachesTheCRMAndTheOtherDevice(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorldWith(t, st, worldOptions{AccountFiles: `      mode = "eager"`})
		w.pull()
		dev, other := w.device("alice"), w.device("alice")
		w.sync(dev)
		w.sync(other)
		w.startHub() // uploads go to the back end as jobs
		id := w.ownedBy("accounts", w.alice)[0]
		content := make([]byte, 300<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range content {
			content[i] = byte(r.UintN(256))
		}
		sum := sha256.Sum256(content)
		notes := w.crm.Count("annotations")

		if err := dev.AttachFile(w.ctx, "crm", "account", id, "offer.pdf", "application/pdf", bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if rep := w.sync(dev); rep.Files.Uploaded != 1 {
			t.Fatalf("the device uploaded %d files, want 1 (%+v)", rep.Files.Uploaded, rep.Files)
		}
		w.eventually("the note on the CRM", time.Minute, func() bool { return len(w.notesOf(id)) > 0 })
		got := w.notesOf(id)
		if len(got) != 1 || w.crm.Count("annotations") != notes+1 {
			t.Fatalf("the CRM has %d notes on the account and %d in all, want 1 and %d", len(got), w.crm.Count("annotations"), notes+1)
		}
		body, err := base64.StdEncoding.DecodeString(fmt.Sprint(got[0]["documentbody"]))
		if err != nil {
			t.Fatalf("the note's body: %v", err)
		}
		if sha256.Sum256(body) != sum || got[0]["filename"] != "offer.pdf" {
			t.Errorf("the note holds %q, %d bytes, not the device's file", got[0]["filename"], len(body))
		}

		var file client.FileInfo
		w.eventually("the file in the other device's feed", time.Minute, func() bool {
			w.sync(other)
			fs, err := other.Files(w.ctx, "crm", "account", id)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) > 1 {
				t.Fatalf("the other device lists %d files on the account", len(fs))
			}
			if len(fs) == 1 {
				file = fs[0]
			}
			return len(fs) == 1 && file.State == "done"
		})
		var buf bytes.Buffer
		if err := other.GetFile(w.ctx, file.ID, &buf); err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(buf.Bytes()) != sum || file.Name != "offer.pdf" || file.Size != int64(len(content)) {
			t.Errorf("the other device has %s, %d bytes (%d listed), not the file alice attached", file.Name, buf.Len(), file.Size)
		}
		w.sync(dev)
		if fs, err := dev.Files(w.ctx, "crm", "account", id); err != nil || len(fs) != 1 {
			t.Errorf("the attaching device lists %d files on the account (%v), want its one", len(fs), err)
		}
		if st, err := dev.Status(w.ctx); err != nil || st.Uploads != 0 {
			t.Errorf("the attaching device still has %d uploads (%v)", st.Uploads, err)
		}
	})
}
