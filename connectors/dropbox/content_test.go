package dropbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
	"github.com/synchub/synchub/connectors/dropbox/emulator"
	"github.com/synchub/synchub/sdk"
)

var contoso = sdk.RecordRef{Entity: "account", ID: "acc-1", Name: "Contoso Ltd"}

// TestReadFile covers downloads: whole, ranged, huge and lost.
func TestReadFile(t *testing.T) {
	t.Run("a_range_of_a_generated_multi_gigabyte_file_reads_the_right_bytes_without_holding_the_file", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		const size = 5<<30 + 12345
		path := "/synchub/account/Contoso Ltd_acc-1/Survey.bin"
		e.emu.PutLargeFile(path, size)
		gen := emulator.NewGenerated(path, size)
		l := e.mustList("")
		f, ok := fileByPath(l.files, path)
		if !ok || f.Size != size || f.Hash != gen.ContentHash() {
			t.Fatalf("listing shows %+v, want %d bytes with hash %s", f, int64(size), gen.ContentHash())
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, r := range []struct{ off, n int64 }{{3<<30 - 100, 200}, {size - 50, 0}, {4<<20 - 8, 16}} {
			got, meta, err := e.read(f.ID, r.off, r.n)
			if err != nil {
				t.Fatalf("ReadFile at %d: %v", r.off, err)
			}
			n := r.n
			if n == 0 {
				n = size - r.off
			}
			want := make([]byte, n)
			_, _ = gen.ReadAt(want, r.off)
			if !bytes.Equal(got, want) || meta.Size != size || meta.ID != f.ID {
				t.Errorf("ReadFile(%d, %d): %d bytes (equal %v), metadata %+v", r.off, r.n, len(got), bytes.Equal(got, want), meta)
			}
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("reading three ranges allocated %d MiB", grew>>20)
		}
	})
	t.Run("a_whole_file_reads_back_as_stored", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		f := e.mustList("").files[0]
		got, meta, err := e.read(f.ID, 0, 0)
		if err != nil || !bytes.Equal(got, e.emu.Content(f.ID)) || meta.Hash != contenthash.Of(got) {
			t.Errorf("ReadFile: %d bytes, %+v, %v", len(got), meta, err)
		}
	})
	t.Run("a_file_lost_between_listing_and_download_is_not_found", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		f := e.mustList("").files[0]
		e.emu.InjectFault(emulator.Fault{Route: "files/download", LoseFile: true})
		_, _, err := e.read(f.ID, 0, 0)
		if codeOf(err) != sdk.CodeNotFound || !strings.Contains(err.Error(), "lost the file") {
			t.Errorf("got %v, want not_found: the back end lost the file", err)
		}
	})
	t.Run("a_range_past_the_end_is_an_invalid_request", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		f := e.mustList("").files[0]
		if _, _, err := e.read(f.ID, f.Size+10, 0); codeOf(err) != sdk.CodeInvalidRequest {
			t.Errorf("got %v, want invalid_request", err)
		}
	})
	t.Run("ids_outside_the_root_are_refused", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		e.emu.PutFile("/private/secret.txt", []byte("not synced"))
		for _, id := range []string{"/private/secret.txt", "/synchub/../private/secret.txt", "id:abc", "/synchub", "secret.txt"} {
			if _, _, err := e.read(id, 0, 0); codeOf(err) != sdk.CodeNotFound {
				t.Errorf("ReadFile(%q): %v, want not_found", id, err)
			}
		}
	})
}

// TestWriteFile covers uploads: names, sizes, conflicts and sessions.
func TestWriteFile(t *testing.T) {
	write := func(e *env, ref sdk.RecordRef, name string, data []byte, size int64) (sdk.File, error) {
		return e.c.WriteFile(e.ctx, sdk.WriteFileRequest{Record: ref, Name: name, Size: size}, bytes.NewReader(data))
	}
	t.Run("non_ASCII_and_emoji_names_round_trip", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		for _, name := range []string{"Prüfbericht ü.pdf", "Фото 😀.jpg", "报价单.txt", "tab\u007fdel.txt"} {
			if strings.ContainsRune(name, 0x7f) {
				continue // control characters are refused, see below
			}
			data := []byte("content of " + name)
			f, err := write(e, contoso, name, data, int64(len(data)))
			if err != nil {
				t.Fatalf("WriteFile(%q): %v", name, err)
			}
			if f.Name != name || f.Record != contoso || f.Hash != contenthash.Of(data) {
				t.Errorf("WriteFile(%q) answers %+v", name, f)
			}
			got, _, err := e.read(f.ID, 0, 0)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("read back %q: %q, %v", name, got, err)
			}
		}
	})
	t.Run("path_traversal_and_bad_names_are_refused", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		tests := []struct {
			name string
			ref  sdk.RecordRef
			file string
		}{
			{"a_parent_reference", contoso, "../escape.txt"},
			{"a_slash", contoso, "sub/file.txt"},
			{"a_backslash", contoso, `..\escape.txt`},
			{"dot_dot", contoso, ".."},
			{"an_empty_name", contoso, ""},
			{"a_control_character", contoso, "bell\a.txt"},
			{"a_record_id_with_a_slash", sdk.RecordRef{Entity: "account", ID: "../../x"}, "f.txt"},
			{"a_record_id_with_an_underscore", sdk.RecordRef{Entity: "account", ID: "a_b"}, "f.txt"},
			{"an_entity_that_is_a_path", sdk.RecordRef{Entity: "../private", ID: "1"}, "f.txt"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := write(e, tt.ref, tt.file, []byte("x"), 1); codeOf(err) != sdk.CodeInvalidRequest {
					t.Errorf("got %v, want invalid_request", err)
				}
			})
		}
		for _, f := range e.emu.Files() {
			if !strings.HasPrefix(f.PathLower, "/synchub/") || strings.Contains(f.Name, "escape") {
				t.Errorf("a refused write left %s", f.PathDisplay)
			}
		}
	})
	t.Run("a_record_name_with_a_slash_makes_a_safe_folder", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		f, err := write(e, sdk.RecordRef{Entity: "account", ID: "acc-9", Name: "A/B Partners"}, "x.txt", []byte("x"), 1)
		if err != nil || f.Path != "/synchub/account/A-B Partners_acc-9/x.txt" || f.Record.ID != "acc-9" {
			t.Errorf("got %+v, %v", f, err)
		}
	})
	t.Run("a_zero_byte_file_is_stored", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		f, err := write(e, contoso, "empty.txt", nil, 0)
		if err != nil || f.Size != 0 || f.Hash != contenthash.Of(nil) {
			t.Errorf("got %+v, %v", f, err)
		}
	})
	t.Run("the_same_bytes_again_are_a_no_op_and_different_bytes_a_conflict", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		first, err := write(e, contoso, "Offer.pdf", []byte("v1"), 2)
		if err != nil {
			t.Fatal(err)
		}
		again, err := write(e, contoso, "Offer.pdf", []byte("v1"), 2)
		if err != nil || again.ID != first.ID || again.Version != first.Version {
			t.Errorf("replayed write: %+v, %v; want the first file unchanged", again, err)
		}
		if _, err := write(e, contoso, "offer.PDF", []byte("v2"), 2); codeOf(err) != sdk.CodeInvalidRequest {
			t.Errorf("different bytes, same name (other case): %v, want invalid_request", err)
		}
	})
	t.Run("a_body_that_does_not_match_its_size_is_refused_and_not_stored", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		for _, tt := range []struct {
			name string
			data []byte
			size int64
		}{{"short.txt", []byte("12345"), 10}, {"long.txt", []byte("1234567890"), 5}} {
			if _, err := write(e, contoso, tt.name, tt.data, tt.size); codeOf(err) != sdk.CodeInvalidRequest {
				t.Errorf("%s: %v, want invalid_request", tt.name, err)
			}
			if _, ok := e.emu.Stat("/synchub/account/Contoso Ltd_acc-1/" + tt.name); ok {
				t.Errorf("%s was stored", tt.name)
			}
		}
	})
	t.Run("large_and_unknown_sizes_go_through_an_upload_session", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		e.c.singleMax, e.c.chunk = 1<<20, 1<<20
		data := make([]byte, 3<<20+777)
		for i := range data {
			data[i] = byte(i * 7 % 253)
		}
		for _, tt := range []struct {
			name string
			size int64
			data []byte
		}{
			{"known.bin", int64(len(data)), data},
			{"unknown.bin", -1, data},
			{"exact-chunks.bin", 2 << 20, data[:2<<20]},
			{"small-unknown.bin", -1, data[:1000]},
		} {
			before := e.emu.Requests()
			f, err := e.c.WriteFile(e.ctx, sdk.WriteFileRequest{Record: contoso, Name: tt.name, Size: tt.size},
				iotest.HalfReader(bytes.NewReader(tt.data)))
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := e.emu.Content(f.ID); !bytes.Equal(got, tt.data) || f.Hash != contenthash.Of(tt.data) {
				t.Errorf("%s: stored %d bytes, want %d", tt.name, len(got), len(tt.data))
			}
			calls := e.emu.Requests() - before
			if wantMany := len(tt.data) > 1<<20; wantMany != (calls > 1) {
				t.Errorf("%s: %d calls for %d bytes", tt.name, calls, len(tt.data))
			}
		}
	})
	t.Run("an_upload_throttled_mid_session_is_retried", func(t *testing.T) {
		e := newEnv(t, emulator.Options{RetryAfter: 1e9}, nil)
		e.c.singleMax, e.c.chunk = 1<<20, 1<<20
		e.emu.InjectFault(emulator.Fault{Route: "upload_session/append_v2", Status: 429})
		data := bytes.Repeat([]byte("ab"), 3<<19)
		if _, err := write(e, contoso, "throttled.bin", data, -1); err != nil {
			t.Errorf("%v", err)
		}
	})
}

// TestConfigure checks the config is refused with the key named.
func TestConfigure(t *testing.T) {
	tests := []struct {
		name, field string
		cfg         map[string]any
	}{
		{"an_unknown_key_is_refused", "", map[string]any{"access_token": "t", "rooot": "/x"}},
		{"no_credentials_are_refused", "access_token", map[string]any{}},
		{"both_kinds_of_credentials_are_refused", "access_token", map[string]any{"access_token": "t", "refresh_token": "r", "app_key": "k"}},
		{"a_refresh_token_needs_an_app_key", "app_key", map[string]any{"refresh_token": "r"}},
		{"a_relative_root_is_refused", "root", map[string]any{"access_token": "t", "root": "synchub"}},
		{"a_root_with_dot_dot_is_refused", "root", map[string]any{"access_token": "t", "root": "/a/../b"}},
		{"a_page_limit_over_2000_is_refused", "page_limit", map[string]any{"access_token": "t", "page_limit": 2001}},
		{"a_non_http_url_is_refused", "api_url", map[string]any{"access_token": "t", "api_url": "ftp://x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(tt.cfg)
			err := New().Configure(t.Context(), sdk.ConfigureRequest{Config: raw})
			var se *sdk.Error
			if !errors.As(err, &se) || se.Code != sdk.CodeInvalidConfig || se.Field != tt.field {
				t.Errorf("Configure(%s): %v, want invalid_config on %q", raw, err, tt.field)
			}
		})
	}
	t.Run("a_refresh_token_gets_short_lived_tokens", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		raw, _ := json.Marshal(map[string]any{"refresh_token": emulator.DefaultRefreshToken, "app_key": emulator.DefaultClientID,
			"app_secret": emulator.DefaultClientSecret, "api_url": e.emu.URL(), "content_url": e.emu.URL(), "token_url": e.emu.TokenURL()})
		c := New()
		if err := c.Configure(t.Context(), sdk.ConfigureRequest{Config: raw}); err != nil {
			t.Fatal(err)
		}
		if r, err := c.Check(t.Context()); err != nil || r.Identity.ID == "" || r.Identity.Attributes["email"] == "" {
			t.Errorf("Check: %+v, %v", r, err)
		}
	})
	t.Run("a_revoked_refresh_token_is_an_auth_error", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		raw, _ := json.Marshal(map[string]any{"refresh_token": "revoked", "app_key": emulator.DefaultClientID,
			"api_url": e.emu.URL(), "content_url": e.emu.URL(), "token_url": e.emu.TokenURL()})
		c := New()
		if err := c.Configure(t.Context(), sdk.ConfigureRequest{Config: raw}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Check(t.Context()); codeOf(err) != sdk.CodeAuth {
			t.Errorf("Check: %v, want auth", err)
		}
	})
	t.Run("the_connector_has_no_record_entities", func(t *testing.T) {
		e := newEnv(t, emulator.Options{}, nil)
		_, err := e.c.Schema(e.ctx, sdk.SchemaRequest{Entities: []string{"account"}})
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeUnknownEntity || se.Entity != "account" {
			t.Errorf("Schema(account): %v, want unknown_entity", err)
		}
	})
}
