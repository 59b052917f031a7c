package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
)

// keyOrder returns the keys of a JSON object in document order.
func keyOrder(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, _ := dec.Token()
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// subsequence reports whether every element of sub appears in all, in order.
func subsequence(sub, all []string) bool {
	i := 0
	for _, s := range all {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}

// TestEntriesLookLikeTheFixtures compares the emulator's entries with the
// reference's recorded examples: same keys in the same order (the emulator
// leaves out sharing and property details), same value formats.
func TestEntriesLookLikeTheFixtures(t *testing.T) {
	raw, err := os.ReadFile("../../../../shared/fixtures/dropbox/list-folder-result-spec-example.json")
	if err != nil {
		t.Skipf("fixtures not available: %v", err)
	}
	var fixture struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	deleted, err := os.ReadFile("../../../../shared/fixtures/dropbox/deleted-metadata-rendered-from-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"file": keyOrder(t, fixture.Entries[0]), "folder": keyOrder(t, fixture.Entries[1]),
		"deleted": keyOrder(t, deleted)}

	c := start(t, Options{Seed: 1})
	c.srv.PutFile("/synchub/gone.txt", []byte("x"))
	c.srv.DeleteFile("/synchub/gone.txt")
	r := c.rpc("files/list_folder", map[string]any{"path": "/synchub", "recursive": true, "include_deleted": true})
	if r.status != http.StatusOK || keyOrder(t, r.body)[0] != "entries" {
		t.Fatalf("list_folder: %d %s", r.status, r.body)
	}
	var page struct {
		Entries []json.RawMessage `json:"entries"`
	}
	_ = json.Unmarshal(r.body, &page)
	formats := map[string]*regexp.Regexp{
		"id": regexp.MustCompile(`^id:[A-Za-z0-9_-]{22}$`), "rev": regexp.MustCompile(`^[0-9a-f]{9,}$`),
		"client_modified": regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`),
		"server_modified": regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`),
		"content_hash":    regexp.MustCompile(`^[0-9a-f]{64}$`),
	}
	seen := map[string]bool{}
	for _, e := range page.Entries {
		keys := keyOrder(t, e)
		var m map[string]any
		_ = json.Unmarshal(e, &m)
		tag := m[".tag"].(string)
		seen[tag] = true
		if tag == "deleted" && !slices.Equal(keys, want[tag]) || !subsequence(keys, want[tag]) {
			t.Errorf("%s entry keys %v, fixture has %v", tag, keys, want[tag])
		}
		for k, re := range formats {
			if v, ok := m[k].(string); ok && !re.MatchString(v) {
				t.Errorf("%s %s = %q does not look like Dropbox's", tag, k, v)
			}
		}
		if lower, display := m["path_lower"].(string), m["path_display"].(string); lower != strings.ToLower(display) {
			t.Errorf("path_lower %q is not path_display %q lower-cased", lower, display)
		}
	}
	for _, tag := range []string{"file", "folder", "deleted"} {
		if !seen[tag] {
			t.Errorf("no %s entry listed", tag)
		}
	}
}

// TestAuth covers bearer tokens and the refresh flow.
func TestAuth(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	c := start(t, Options{Now: clock.Now, TokenTTL: time.Hour})
	refresh := func(form url.Values) reply {
		req, _ := http.NewRequest(http.MethodPost, c.srv.TokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, header: resp.Header, body: body}
	}
	t.Run("a_missing_or_unknown_token_is_401_invalid_access_token", func(t *testing.T) {
		for _, tok := range []string{"", "nope"} {
			c.token = tok
			r := c.rpc("users/get_current_account", nil)
			if r.status != 401 || r.summary(t) != "invalid_access_token/.." || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("token %q: %d %s %v", tok, r.status, r.body, r.header)
			}
		}
	})
	t.Run("a_refresh_token_buys_a_short_lived_token_that_expires", func(t *testing.T) {
		r := refresh(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {DefaultRefreshToken},
			"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}})
		m := r.json(t)
		tok, _ := m["access_token"].(string)
		if r.status != 200 || !strings.HasPrefix(tok, "sl.") || m["token_type"] != "bearer" || m["expires_in"] != 3600.0 {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		c.token = tok
		if r := c.rpc("users/get_current_account", nil); r.status != 200 || r.json(t)["account_id"] == "" {
			t.Errorf("with the new token: %d %s", r.status, r.body)
		}
		clock.Add(time.Hour)
		if r := c.rpc("users/get_current_account", nil); r.status != 401 || r.summary(t) != "expired_access_token/.." {
			t.Errorf("after its lifetime: %d %s", r.status, r.body)
		}
	})
	t.Run("a_wrong_refresh_token_is_invalid_grant", func(t *testing.T) {
		r := refresh(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"stale"}, "client_id": {DefaultClientID}})
		if r.status != 400 || r.json(t)["error"] != "invalid_grant" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

// TestMalformedCallsArePlainText400s: what Dropbox cannot parse it answers
// with a 400 in plain text, never JSON.
func TestMalformedCallsArePlainText400s(t *testing.T) {
	c := start(t, Options{})
	raw := func(route, ct string, hdr map[string]string, body string) reply {
		req, _ := http.NewRequest(http.MethodPost, c.base+"/2/"+route, strings.NewReader(body))
		if body == "" {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return c.do(req)
	}
	tests := []struct {
		name  string
		reply reply
		says  string
	}{
		{"an_upload_declared_as_JSON", raw("files/upload", "application/json", map[string]string{"Dropbox-API-Arg": `{"path":"/a.txt"}`}, "x"), `Bad HTTP "Content-Type" header`},
		{"raw_UTF8_in_the_arg_header", raw("files/download", "", map[string]string{"Dropbox-API-Arg": "{\"path\":\"/\xc3\xbc.txt\"}"}, ""), "could not decode input as JSON"},
		{"an_arg_header_that_is_not_JSON", raw("files/download", "", map[string]string{"Dropbox-API-Arg": `{path:`}, ""), "could not decode input as JSON"},
		{"no_arg_header", raw("files/download", "", nil, ""), `Must provide HTTP header "Dropbox-API-Arg"`},
		{"an_RPC_body_as_text", raw("files/list_folder", "text/plain", nil, `{"path":""}`), `Bad HTTP "Content-Type" header`},
		{"an_unknown_field", raw("files/list_folder", "application/json", nil, `{"path":"","recursve":true}`), "unknown field 'recursve'"},
		{"a_limit_over_2000", raw("files/list_folder", "application/json", nil, `{"path":"","limit":2001}`), "not within range [1, 2000]"},
		{"a_missing_path", raw("files/list_folder", "application/json", nil, `{}`), "missing required field 'path'"},
		{"a_body_for_a_route_without_arguments", raw("users/get_current_account", "application/json", nil, `{}`), "could not decode input as JSON"},
		{"a_garbled_cursor", raw("files/list_folder/continue", "application/json", nil, `{"cursor":"zzz"}`), "invalid cursor"},
		{"an_unknown_route", raw("files/teleport", "application/json", nil, `{}`), "Unknown API function"},
		{"a_relative_path", raw("files/delete_v2", "application/json", nil, `{"path":"a.txt"}`), "did not match pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.reply
			if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") ||
				!strings.HasPrefix(string(r.body), `Error in call to API function "`) || !strings.Contains(string(r.body), tt.says) {
				t.Errorf("%d %s: %s; want a plain-text 400 saying %q", r.status, r.header.Get("Content-Type"), r.body, tt.says)
			}
		})
	}
	t.Run("a_route_without_arguments_takes_no_body_or_null", func(t *testing.T) {
		for _, body := range []string{"", "null"} {
			ct := ""
			if body != "" {
				ct = "application/json"
			}
			if r := raw("users/get_current_account", ct, nil, body); r.status != 200 {
				t.Errorf("body %q: %d %s", body, r.status, r.body)
			}
		}
	})
}

// TestListFolder covers listing, paging, cursors and the change log.
func TestListFolder(t *testing.T) {
	t.Run("paths_are_case_insensitive", func(t *testing.T) {
		c := start(t, Options{})
		a, _ := c.entries("/SYNCHUB/Account", true, false)
		b, _ := c.entries("/synchub/account", true, false)
		if len(a) == 0 || !slices.Equal(paths(a), paths(b)) {
			t.Errorf("%v vs %v", paths(a), paths(b))
		}
	})
	t.Run("continue_reports_changes_since_the_cursor_in_order", func(t *testing.T) {
		c := start(t, Options{})
		_, cur := c.entries("/synchub", true, true)
		c.srv.PutFile("/synchub/account/Contoso_acc-1/new.txt", []byte("n"))
		c.srv.PutFile("/synchub/lead/Big Co_l-1/a.txt", []byte("a"))
		c.srv.DeleteFile("/synchub/contact")
		c.srv.Move("/synchub/account/Contoso_acc-1/new.txt", "/synchub/account/Contoso_acc-1/renamed.txt")
		got, cur := c.continueAll(cur)
		want := []string{"folder /synchub/lead", "folder /synchub/lead/big co_l-1", "file /synchub/lead/big co_l-1/a.txt",
			"deleted /synchub/contact", "deleted /synchub/account/contoso_acc-1/new.txt", "file /synchub/account/contoso_acc-1/renamed.txt"}
		if !slices.Equal(paths(got), want) {
			t.Errorf("changes %q\nwant    %q", paths(got), want)
		}
		for _, e := range got {
			if e[".tag"] == "deleted" && e["id"] != nil {
				t.Errorf("deleted entry with an id: %v", e)
			}
		}
		if again, _ := c.continueAll(cur); len(again) != 0 {
			t.Errorf("no change since, yet %v", paths(again))
		}
	})
	t.Run("get_latest_cursor_skips_what_exists_now", func(t *testing.T) {
		c := start(t, Options{})
		r := c.rpc("files/list_folder/get_latest_cursor", map[string]any{"path": "/synchub", "recursive": true, "include_deleted": true})
		cur, _ := r.json(t)["cursor"].(string)
		c.srv.PutFile("/synchub/x.txt", []byte("x"))
		if got, _ := c.continueAll(cur); !slices.Equal(paths(got), []string{"file /synchub/x.txt"}) {
			t.Errorf("got %v", paths(got))
		}
	})
	t.Run("include_deleted_lists_what_used_to_be_there", func(t *testing.T) {
		c := start(t, Options{})
		c.srv.DeleteFile("/synchub/contact")
		with, _ := c.entries("/synchub", true, true)
		without, _ := c.entries("/synchub", true, false)
		if !slices.Contains(paths(with), "deleted /synchub/contact") || slices.ContainsFunc(paths(without), func(p string) bool { return strings.HasPrefix(p, "deleted") }) {
			t.Errorf("with %v\nwithout %v", paths(with), paths(without))
		}
	})
	t.Run("an_expired_cursor_is_409_reset", func(t *testing.T) {
		c := start(t, Options{})
		_, cur := c.entries("/synchub", true, true)
		c.srv.ExpireCursors()
		r := c.rpc("files/list_folder/continue", map[string]string{"cursor": cur})
		if r.status != 409 || string(r.body) != `{"error_summary":"reset/..","error":{".tag":"reset"}}` {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("a_missing_folder_is_409_path_not_found", func(t *testing.T) {
		c := start(t, Options{})
		r := c.rpc("files/list_folder", map[string]any{"path": "/nowhere"})
		e, _ := r.json(t)["error"].(map[string]any)
		if r.status != 409 || r.summary(t) != "path/not_found/.." || e[".tag"] != "path" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

// TestUpload covers write modes, conflicts and limits.
func TestUpload(t *testing.T) {
	c := start(t, Options{MaxUploadBytes: 1 << 10})
	up := func(arg map[string]any, body string) reply { return c.content("files/upload", arg, []byte(body), nil) }
	first := up(map[string]any{"path": "/synchub/Doc.txt", "mode": "add"}, "v1").json(t)
	if first[".tag"] != nil || first["size"] != 2.0 || first["content_hash"] != contenthash.Of([]byte("v1")) {
		t.Fatalf("upload result %v", first)
	}
	rev, id := first["rev"].(string), first["id"].(string)
	tests := []struct {
		name    string
		arg     map[string]any
		body    string
		status  int
		summary string
		check   func(t *testing.T, m map[string]any)
	}{
		{"add_of_the_same_bytes_changes_nothing", map[string]any{"path": "/SYNCHUB/doc.txt", "mode": "add"}, "v1", 200, "",
			func(t *testing.T, m map[string]any) {
				if m["rev"] != rev || m["id"] != id {
					t.Errorf("rev %v id %v, want %s %s", m["rev"], m["id"], rev, id)
				}
			}},
		{"add_of_other_bytes_conflicts", map[string]any{"path": "/synchub/doc.txt", "mode": "add"}, "v2", 409, "path/conflict/file/..",
			func(t *testing.T, m map[string]any) {
				e := m["error"].(map[string]any)
				reason, _ := e["reason"].(map[string]any)
				if e[".tag"] != "path" || reason[".tag"] != "conflict" || e["upload_session_id"] == nil {
					t.Errorf("error %v", e)
				}
			}},
		{"add_with_autorename_makes_a_copy", map[string]any{"path": "/synchub/doc.txt", "mode": "add", "autorename": true}, "v2", 200, "",
			func(t *testing.T, m map[string]any) {
				if m["path_display"] != "/synchub/doc (1).txt" {
					t.Errorf("path %v", m["path_display"])
				}
			}},
		{"update_with_a_stale_rev_conflicts", map[string]any{"path": "/synchub/doc.txt", "mode": map[string]any{".tag": "update", "update": "0123456789"}}, "v3", 409, "path/conflict/file/..", nil},
		{"update_with_the_current_rev_overwrites_keeping_the_id", map[string]any{"path": "/synchub/doc.txt", "mode": map[string]any{".tag": "update", "update": rev}}, "v3", 200, "",
			func(t *testing.T, m map[string]any) {
				if m["id"] != id || m["rev"] == rev {
					t.Errorf("id %v rev %v", m["id"], m["rev"])
				}
			}},
		{"overwrite_always_writes", map[string]any{"path": "/synchub/doc.txt", "mode": "overwrite"}, "v4", 200, "", nil},
		{"a_content_hash_that_does_not_match_is_refused", map[string]any{"path": "/synchub/h.txt", "content_hash": contenthash.Of([]byte("other"))}, "mine", 409, "content_hash_mismatch/..", nil},
		{"more_than_the_limit_is_payload_too_large", map[string]any{"path": "/synchub/big.bin"}, strings.Repeat("x", 1<<10+1), 409, "payload_too_large/..", nil},
		{"a_file_where_a_folder_is_conflicts", map[string]any{"path": "/synchub/account"}, "x", 409, "path/conflict/folder/..", nil},
		{"a_malformed_path_is_refused", map[string]any{"path": "/synchub/../x.txt"}, "x", 409, "path/malformed_path/..", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := up(tt.arg, tt.body)
			m := r.json(t)
			if r.status != tt.status || tt.summary != "" && m["error_summary"] != tt.summary {
				t.Fatalf("%d %s; want %d %s", r.status, r.body, tt.status, tt.summary)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
	t.Run("an_upload_session_assembles_the_chunks", func(t *testing.T) {
		r := c.content("files/upload_session/start", map[string]any{"close": false}, []byte("hello "), nil)
		sid, _ := r.json(t)["session_id"].(string)
		cursor := map[string]any{"session_id": sid, "offset": 6}
		if r := c.content("files/upload_session/append_v2", map[string]any{"cursor": cursor}, []byte("big "), nil); r.status != 200 || string(r.body) != "null" {
			t.Fatalf("append: %d %s", r.status, r.body)
		}
		r = c.content("files/upload_session/append_v2", map[string]any{"cursor": cursor}, []byte("again"), nil)
		if e, _ := r.json(t)["error"].(map[string]any); r.status != 409 || e["correct_offset"] != 10.0 {
			t.Errorf("append at a stale offset: %d %s", r.status, r.body)
		}
		want := []byte("hello big world")
		r = c.content("files/upload_session/finish", map[string]any{"cursor": map[string]any{"session_id": sid, "offset": 10},
			"commit": map[string]any{"path": "/synchub/session.txt", "mode": "add"}, "content_hash": contenthash.Of(want)}, []byte("world"), nil)
		if r.status != 200 || !bytes.Equal(c.srv.Content("/synchub/session.txt"), want) {
			t.Errorf("finish: %d %s", r.status, r.body)
		}
	})
}

// TestDownload covers content, ranges and errors.
func TestDownload(t *testing.T) {
	c := start(t, Options{})
	name := "/synchub/account/Contoso_acc-1/Prüfbericht 😀.txt"
	data := []byte("0123456789abcdef")
	c.srv.PutFile(name, data)
	t.Run("the_result_header_is_header_safe_JSON", func(t *testing.T) {
		r := c.content("files/download", map[string]string{"path": strings.ToUpper(name)}, nil, nil)
		res := r.header.Get("Dropbox-API-Result")
		var m map[string]any
		if r.status != 200 || !bytes.Equal(r.body, data) || json.Unmarshal([]byte(res), &m) != nil || m["name"] != "Prüfbericht 😀.txt" {
			t.Fatalf("%d %q result %s", r.status, r.body, res)
		}
		if strings.ContainsFunc(res, func(r rune) bool { return r > 0x7e }) || r.header.Get("ETag") != `W/"`+m["rev"].(string)+`"` {
			t.Errorf("result %q etag %q", res, r.header.Get("ETag"))
		}
	})
	tests := []struct {
		name, rng string
		status    int
		body      string
	}{
		{"a_range_is_206", "bytes=10-13", 206, "abcd"},
		{"an_open_range_runs_to_the_end", "bytes=12-", 206, "cdef"},
		{"a_suffix_range_is_the_tail", "bytes=-3", 206, "def"},
		{"a_range_past_the_end_is_416", "bytes=16-", 416, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.content("files/download", map[string]string{"path": name}, nil, map[string]string{"Range": tt.rng})
			if r.status != tt.status || tt.status == 206 && string(r.body) != tt.body {
				t.Errorf("Range %s: %d %q", tt.rng, r.status, r.body)
			}
		})
	}
	t.Run("a_missing_file_is_409_path_not_found", func(t *testing.T) {
		r := c.content("files/download", map[string]string{"path": "/synchub/none.txt"}, nil, nil)
		if r.status != 409 || r.summary(t) != "path/not_found/.." {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("download_by_id_and_by_GET_with_the_arg_parameter", func(t *testing.T) {
		md, _ := c.srv.Stat(name)
		req, _ := http.NewRequest(http.MethodGet, c.base+"/2/files/download?arg="+url.QueryEscape(`{"path":"`+md.ID+`"}`), nil)
		if r := c.do(req); r.status != 200 || !bytes.Equal(r.body, data) {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("delete_v2_then_path_lookup_not_found", func(t *testing.T) {
		if r := c.rpc("files/delete_v2", map[string]string{"path": name}); r.status != 200 || r.json(t)["metadata"] == nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		r := c.rpc("files/delete_v2", map[string]string{"path": name})
		if r.status != 409 || r.summary(t) != "path_lookup/not_found/.." {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

// TestBudget: over the request budget, 429 with Retry-After and the body.
func TestBudget(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	c := start(t, Options{Now: clock.Now, RequestBudget: 2, BudgetWindow: time.Minute})
	for range 2 {
		if r := c.rpc("users/get_current_account", nil); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	r := c.rpc("users/get_current_account", nil)
	e, _ := r.json(t)["error"].(map[string]any)
	if r.status != 429 || r.header.Get("Retry-After") != "60" || e["retry_after"] != 60.0 || r.summary(t) != "too_many_requests/.." {
		t.Errorf("%d %v %s", r.status, r.header, r.body)
	}
	clock.Add(time.Minute)
	if r := c.rpc("users/get_current_account", nil); r.status != 200 {
		t.Errorf("next window: %d %s", r.status, r.body)
	}
}

// TestGenerated checks generated content against its own hash and reads.
func TestGenerated(t *testing.T) {
	const bs = contenthash.BlockSize
	for _, size := range []int64{0, 1, bs - 3, bs, bs + 1, 2*bs + 123} {
		t.Run(fmt.Sprintf("%d_bytes", size), func(t *testing.T) {
			g := NewGenerated("/synchub/Big.bin", size)
			whole, n, err := contenthash.OfReader(io.NewSectionReader(g, 0, size))
			if err != nil || n != size || whole != g.ContentHash() {
				t.Errorf("streamed hash %s (%d bytes, %v), ContentHash %s", whole, n, err, g.ContentHash())
			}
			if size > 20 {
				all := make([]byte, size)
				_, _ = g.ReadAt(all, 0)
				part := make([]byte, 17)
				for _, off := range []int64{0, 5, size - 17, size / 2} {
					if _, err := g.ReadAt(part, off); err != nil && off+17 < size || !bytes.Equal(part, all[off:off+17]) {
						t.Errorf("ReadAt(%d) differs from the whole", off)
					}
				}
			}
		})
	}
	t.Run("the_path_is_compared_without_case", func(t *testing.T) {
		a, b := make([]byte, 64), make([]byte, 64)
		_, _ = NewGenerated("/A.bin", 64).ReadAt(a, 0)
		_, _ = NewGenerated("/a.BIN", 64).ReadAt(b, 0)
		if !bytes.Equal(a, b) {
			t.Error("differs")
		}
	})
}
