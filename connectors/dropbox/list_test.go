package dropbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/emulator"
	"github.com/synchub/synchub/sdk"
)

// TestFixturesParse decodes the reference's list_folder example and
// deleted entry and places them by the folder convention.
func TestFixturesParse(t *testing.T) {
	var res listResult
	raw, err := os.ReadFile("../../../shared/fixtures/dropbox/list-folder-result-spec-example.json")
	if err != nil {
		t.Skipf("fixtures not available: %v", err)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("list folder fixture: %v", err)
	}
	var deleted metadata
	raw, err = os.ReadFile("../../../shared/fixtures/dropbox/deleted-metadata-rendered-from-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &deleted); err != nil {
		t.Fatalf("deleted fixture: %v", err)
	}
	res.Entries = append(res.Entries, deleted)
	tests := []struct {
		name, root  string
		wantFiles   []sdk.File
		wantOrphans []string
		wantDeleted []string
	}{
		{name: "a_file_two_levels_below_the_root_is_an_orphan", root: "/Homework",
			wantOrphans: []string{"/Homework/math/Prime_Numbers.txt"}, wantDeleted: []string{"/homework/math/pi.txt"}},
		{name: "a_record_folder_name_needs_an_underscore", root: "/",
			wantOrphans: []string{"/Homework/math/Prime_Numbers.txt"}, wantDeleted: []string{"/homework/math/pi.txt"}},
		{name: "entries_outside_the_root_are_ignored", root: "/elsewhere"},
		{name: "a_file_in_a_record_folder_is_the_record's", root: "/x", wantFiles: []sdk.File{{
			ID: "/x/homework/math_42/prime_numbers.txt", Name: "Prime_Numbers.txt", Size: 7212, MimeType: "text/plain",
			Hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Version: "a1c10ce0dd78",
			Record: sdk.RecordRef{Entity: "Homework", ID: "42", Name: "math"}, Path: "/x/Homework/math_42/Prime_Numbers.txt"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := configure(Config{AccessToken: "t", Root: tt.root}, New().log)
			if err != nil {
				t.Fatal(err)
			}
			in := res
			if tt.root == "/x" { // the same entry, moved into a record folder
				e := res.Entries[0]
				e.PathLower, e.PathDisplay = "/x/homework/math_42/prime_numbers.txt", "/x/Homework/math_42/Prime_Numbers.txt"
				in.Entries = []metadata{e}
			}
			pg := st.filePage(in, nil, New())
			for i := range pg.Files {
				if pg.Files[i].ModifiedAt.IsZero() {
					t.Errorf("file %s has no modified time", pg.Files[i].ID)
				}
			}
			if len(pg.Files) != len(tt.wantFiles) {
				t.Fatalf("files %+v, want %+v", pg.Files, tt.wantFiles)
			}
			for i, want := range tt.wantFiles {
				got := pg.Files[i]
				want.ModifiedAt = got.ModifiedAt
				if got != want {
					t.Errorf("file %+v\nwant %+v", got, want)
				}
			}
			if !slices.Equal(pg.Orphans, tt.wantOrphans) || !slices.Equal(pg.Deleted, tt.wantDeleted) {
				t.Errorf("orphans %q deleted %q, want %q and %q", pg.Orphans, pg.Deleted, tt.wantOrphans, tt.wantDeleted)
			}
			if pg.Done != !res.HasMore || !strings.HasPrefix(pg.Cursor, cursorPrefix) {
				t.Errorf("page Done %v cursor %q", pg.Done, pg.Cursor)
			}
		})
	}
}

// TestListFiles covers the folder convention, paging and the incremental
// feed against the emulator.
func TestListFiles(t *testing.T) {
	t.Run("a_full_listing_finds_every_seeded_file_on_its_record_over_several_pages", func(t *testing.T) {
		e := newEnv(t, emulator.Options{Seed: 3}, map[string]any{"page_limit": 2})
		l := e.mustList("")
		if l.pages < 3 {
			t.Errorf("%d pages with page_limit 2, want several", l.pages)
		}
		var want []string
		for _, f := range e.emu.Files() {
			want = append(want, f.PathLower)
		}
		var got []string
		for _, f := range l.files {
			got = append(got, f.ID)
			if f.Record.ID == "" || f.Hash == "" || f.Version == "" || f.MimeType == "" {
				t.Errorf("file %+v lacks a record, hash, version or type", f)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("listed %q, want %q", got, want)
		}
		f := l.files[0]
		for _, r := range testRecords {
			if r.ID == f.Record.ID && (r.Entity != f.Record.Entity || r.Name != f.Record.Name) {
				t.Errorf("file %s is on %+v, want %+v", f.ID, f.Record, r)
			}
		}
	})
	t.Run("the_record_id_is_after_the_last_underscore", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		for _, f := range e.mustList("").files {
			if strings.Contains(f.Path, "Fabrikam_Inc_acc-2") && (f.Record.ID != "acc-2" || f.Record.Name != "Fabrikam_Inc") {
				t.Errorf("file %s is on %+v", f.Path, f.Record)
			}
		}
	})
	t.Run("files_outside_the_convention_are_orphans_not_guesses", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		odd := []string{"/synchub/readme.txt", "/synchub/account/loose.pdf", "/synchub/account/NoUnderscore/x.txt",
			"/synchub/account/Trailing_/x.txt", "/synchub/account/Contoso Ltd_acc-1/sub/deep.txt"}
		for _, p := range odd {
			e.emu.PutFile(p, []byte("odd"))
		}
		e.emu.PutFile("/elsewhere/account/A_1/x.txt", []byte("outside the root"))
		l := e.mustList("")
		slices.Sort(odd)
		slices.Sort(l.orphans)
		if !slices.Equal(l.orphans, odd) {
			t.Errorf("orphans %q, want %q", l.orphans, odd)
		}
		for _, f := range l.files {
			if slices.Contains(odd, f.Path) || strings.HasPrefix(f.Path, "/elsewhere") {
				t.Errorf("%s listed as a file of %+v", f.Path, f.Record)
			}
		}
	})
	t.Run("entities_limit_the_listing", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		for _, f := range e.mustList("", "contact").files {
			if f.Record.Entity != "contact" {
				t.Errorf("asked for contact, got a file of %s", f.Record.Entity)
			}
		}
	})
	t.Run("an_incremental_listing_reports_changes_deletions_and_moves", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, map[string]any{"page_limit": 1})
		full := e.mustList("")
		if l := e.mustList(full.cursor); len(l.files)+len(l.deleted)+len(l.orphans) != 0 {
			t.Fatalf("no change, yet %+v", l)
		}
		added := e.emu.PutFile("/synchub/account/Contoso Ltd_acc-1/New.txt", []byte("new"))
		var gone, movedFrom string
		for _, f := range full.files {
			switch {
			case f.Record.ID == "con-1" && gone == "":
				gone = f.ID
			case f.Record.ID == "acc-2" && movedFrom == "":
				movedFrom = f.ID
			}
		}
		e.emu.DeleteFile(gone)
		e.emu.Move(movedFrom, "/synchub/account/Contoso Ltd_acc-1/Moved.bin")
		folder := "/synchub/account/contoso ltd_acc-1"
		l := e.mustList(full.cursor)
		if _, ok := fileByPath(l.files, added.PathDisplay); !ok {
			t.Errorf("the added file is not listed: %+v", l.files)
		}
		moved, ok := fileByPath(l.files, "/synchub/account/Contoso Ltd_acc-1/Moved.bin")
		if !ok || moved.Record.ID != "acc-1" {
			t.Errorf("the moved file is not listed on acc-1: %+v", l.files)
		}
		for _, want := range []string{gone, movedFrom} {
			if !slices.Contains(l.deleted, want) {
				t.Errorf("deleted %q lacks %s", l.deleted, want)
			}
		}
		e.emu.DeleteFile(folder)
		l = e.mustList(l.cursor)
		if !slices.Equal(l.deleted, []string{folder}) {
			t.Errorf("deleting a record folder reports %q, want the folder alone", l.deleted)
		}
	})
	t.Run("an_expired_cursor_is_ErrCursorExpired", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		cur := e.mustList("").cursor
		e.emu.ExpireCursors()
		if _, err := e.list(cur); !errors.Is(err, sdk.ErrCursorExpired) {
			t.Errorf("after reset: %v, want ErrCursorExpired", err)
		}
		for _, bad := range []string{"garbage", cursorPrefix + "L290aGVy:AAE"} {
			if _, err := e.list(bad); !errors.Is(err, sdk.ErrCursorExpired) {
				t.Errorf("cursor %q: %v, want ErrCursorExpired", bad, err)
			}
		}
	})
	t.Run("a_deleted_root_expires_the_cursor_and_a_full_listing_recreates_it", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		cur := e.mustList("").cursor
		e.emu.DeleteFile("/synchub")
		if _, err := e.list(cur); !errors.Is(err, sdk.ErrCursorExpired) {
			t.Errorf("root gone: %v, want ErrCursorExpired", err)
		}
		if l := e.mustList(""); len(l.files) != 0 {
			t.Errorf("fresh root lists %d files", len(l.files))
		}
		if _, ok := e.emu.Stat("/synchub"); !ok {
			t.Error("the root was not created")
		}
	})
}

// TestErrors checks how Dropbox's error answers reach the host.
func TestErrors(t *testing.T) {
	t.Run("a_plain_text_400_is_a_clear_invalid_request", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`Error in call to API function "files/list_folder": request body: limit: 5000 is not within range [1, 2000]`))
		}))
		t.Cleanup(srv.Close)
		e := &env{t: t, c: New()}
		e.ctx = t.Context()
		raw, _ := json.Marshal(map[string]any{"access_token": "x", "api_url": srv.URL, "content_url": srv.URL})
		if err := e.c.Configure(e.ctx, sdk.ConfigureRequest{Config: raw}); err != nil {
			t.Fatal(err)
		}
		_, err := e.list("")
		if codeOf(err) != sdk.CodeInvalidRequest || !strings.Contains(err.Error(), "not within range") {
			t.Errorf("got %v, want invalid_request quoting Dropbox's text", err)
		}
	})
	t.Run("a_429_is_waited_out_and_the_call_succeeds", func(t *testing.T) {
		e := newEnv(t, emulator.Options{RequestBudget: 1, BudgetWindow: 500 * time.Millisecond, RetryAfter: time.Second}, nil)
		if _, err := e.c.Check(e.ctx); err != nil {
			t.Fatal(err)
		}
		before := e.emu.Requests()
		r, err := e.c.Check(e.ctx)
		if err != nil || r.Identity.ID == "" {
			t.Fatalf("Check after 429: %+v, %v", r, err)
		}
		if n := e.emu.Requests() - before; n != 2 {
			t.Errorf("%d requests, want the throttled one and its retry", n)
		}
	})
	t.Run("garbage_instead_of_JSON_is_a_bad_response", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		e.emu.InjectFault(emulator.Fault{Route: "list_folder", Status: http.StatusOK, Garbage: true})
		if _, err := e.list(""); codeOf(err) != sdk.CodeBadResponse {
			t.Errorf("got %v, want bad_response", err)
		}
	})
	t.Run("server_errors_on_reads_are_retried", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		e.emu.InjectFault(emulator.Fault{Route: "list_folder", Status: http.StatusServiceUnavailable})
		if _, err := e.list(""); err != nil {
			t.Errorf("one 503 then success: %v", err)
		}
	})
	t.Run("a_bad_token_is_an_auth_error", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, map[string]any{"access_token": "wrong"})
		if _, err := e.c.Check(e.ctx); codeOf(err) != sdk.CodeAuth || !strings.Contains(err.Error(), "invalid_access_token") {
			t.Errorf("got %v, want auth naming invalid_access_token", err)
		}
	})
}
