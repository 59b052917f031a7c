package dynamicscrm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"

	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
)

var ctx = context.Background()

// pass runs one Fetch and returns its records, deletions and last cursor.
func pass(t *testing.T, c *dynamicscrm.Connector, req sdk.FetchRequest) (recs []sdk.Record, deleted []string, cursor string) {
	t.Helper()
	err := c.Fetch(ctx, req, func(p sdk.Page) error {
		recs, deleted = append(recs, decoded(t, p.Records)...), append(deleted, p.Deleted...)
		if p.Done {
			cursor = p.Cursor
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch(%+v): %v", req, err)
	}
	return recs, deleted, cursor
}

// decoded sets the Fields of records the connector handed over as Raw.
func decoded(t *testing.T, recs []sdk.Record) []sdk.Record {
	t.Helper()
	for i := range recs {
		m, err := recs[i].FieldMap()
		if err != nil {
			t.Fatal(err)
		}
		recs[i].Fields = m
	}
	return recs
}

func find(recs []sdk.Record, id string) (sdk.Record, bool) {
	i := slices.IndexFunc(recs, func(r sdk.Record) bool { return r.ID == id })
	if i < 0 {
		return sdk.Record{}, false
	}
	return recs[i], true
}

func upload(t *testing.T, c *dynamicscrm.Connector, atomic bool, ops ...sdk.Op) []sdk.OpResult {
	t.Helper()
	resp, err := c.Upload(ctx, sdk.UploadRequest{Ops: ops, Atomic: atomic})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	out := make([]sdk.OpResult, len(ops))
	for i, op := range ops {
		j := slices.IndexFunc(resp.Results, func(r sdk.OpResult) bool { return r.MutationID == op.MutationID })
		if j < 0 {
			t.Fatalf("no result for %s", op.MutationID)
		}
		out[i] = resp.Results[j]
		if rec := out[i].Record; rec != nil {
			// The connector answers records as JSON (Raw) only.
			rec.Fields = decoded(t, []sdk.Record{*rec})[0].Fields
		}
	}
	return out
}

func op(entity string, kind sdk.OpKind, id, base string, fields map[string]any) sdk.Op {
	return sdk.Op{MutationID: uuid.NewString(), Entity: entity, Kind: kind, ID: id, BaseVersion: base, Fields: fields}
}

func etagOf(t *testing.T, emu *emulator.Server, set, id string) string {
	t.Helper()
	row, ok := emu.Get(set, id)
	if !ok {
		t.Fatalf("no %s %s", set, id)
	}
	return row["@odata.etag"].(string)
}

func TestConfigure(t *testing.T) {
	base := map[string]any{"url": "https://contoso.crm.dynamics.com", "tenant_id": "t", "client_id": "c", "client_secret": "s"}
	with := func(k string, v any) json.RawMessage {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name  string
		cfg   json.RawMessage
		field string
	}{
		{"an_unknown_key_is_refused", with("pagesize", 10), ""},
		{"a_missing_secret_is_named", with("client_secret", nil), "client_secret"},
		{"a_page_size_over_5000_is_refused", with("page_size", 6000), "page_size"},
		{"a_url_with_a_path_is_refused", with("url", "https://contoso.crm.dynamics.com/main.aspx"), "url"},
		{"a_malformed_api_version_is_refused", with("api_version", "9.2/../x"), "api_version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dynamicscrm.New().Configure(ctx, sdk.ConfigureRequest{Config: tc.cfg})
			var se *sdk.Error
			if !errors.As(err, &se) || se.Code != sdk.CodeInvalidConfig || se.Field != tc.field {
				t.Errorf("Configure: %v, want an invalid_config error on field %q", err, tc.field)
			}
		})
	}
	if err := dynamicscrm.New().Configure(ctx, sdk.ConfigureRequest{Config: with("page_size", 200)}); err != nil {
		t.Errorf("a valid config: %v", err)
	}
}

func TestCheckSaysWhoTheApplicationUserIs(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 1})
	res, err := configured(t, cfg).Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users := emu.Users()
	app := users[len(users)-1]
	if res.Identity.ID != app.SystemUserID || res.Identity.Attributes["business_unit"] == "" {
		t.Errorf("identity %+v, want the application user %s with its business unit", res.Identity, app.SystemUserID)
	}
}

func TestWrongCredentialsNameTheTenantAndClientButNeverTheSecret(t *testing.T) {
	emu, _ := startEmulator(t, emulator.Options{Seed: 1, Accounts: 1})
	for _, tc := range []struct{ name, client, secret string }{
		{"a_wrong_secret", "synchub-dev", "not-the-secret-42"},
		{"an_unknown_client", "someone-else", "another-secret-43"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := json.Marshal(map[string]any{"url": emu.URL(), "token_url": emu.TokenURL(), "tenant_id": "synchub-tenant",
				"client_id": tc.client, "client_secret": tc.secret})
			_, err := configured(t, cfg).Check(ctx)
			if sdk.CodeOf(err) != sdk.CodeAuth {
				t.Fatalf("Check: %v (code %s), want an auth error", err, sdk.CodeOf(err))
			}
			msg := err.Error()
			if !strings.Contains(msg, "synchub-tenant") || !strings.Contains(msg, tc.client) || strings.Contains(msg, tc.secret) {
				t.Errorf("message %q must name the tenant and the client id and hide the secret", msg)
			}
		})
	}
}

func TestUnknownTablesAndColumnsAreNamed(t *testing.T) {
	_, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 1})
	c := configured(t, cfg)
	var se *sdk.Error
	_, err := c.Schema(ctx, sdk.SchemaRequest{Entities: []string{"account", "acount"}})
	if !errors.As(err, &se) || se.Code != sdk.CodeUnknownEntity || se.Entity != "acount" {
		t.Errorf("Schema of an unknown table: %v", err)
	}
	for _, tc := range []struct {
		name string
		req  sdk.FetchRequest
		want string
	}{
		{"an_unknown_column", sdk.FetchRequest{Entity: "account", Fields: []string{"name", "nosuchcolumn"}}, "nosuchcolumn"},
		{"the_web_api_name_of_a_lookup", sdk.FetchRequest{Entity: "account", Fields: []string{"_ownerid_value"}}, `use "ownerid"`},
		{"an_unknown_column_in_the_filter", sdk.FetchRequest{Entity: "account", Filter: mustParse(t, "nosuchcolumn eq 1")}, "nosuchcolumn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Fetch(ctx, tc.req, func(sdk.Page) error { return nil })
			if !errors.As(err, &se) || se.Code != sdk.CodeUnknownField || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Fetch: %v, want an unknown_field error mentioning %q", err, tc.want)
			}
		})
	}
}

func mustParse(t *testing.T, s string) filter.Expr {
	t.Helper()
	e, err := filter.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCursorsTheServiceRefusesAskForAFullPass(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	_, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 3, Now: clock})
	c := configured(t, cfg)
	_, _, cursor := pass(t, c, sdk.FetchRequest{Entity: "account", PageSize: 2})
	mu.Lock()
	now = now.Add(8 * 24 * time.Hour)
	mu.Unlock()
	err := c.Fetch(ctx, sdk.FetchRequest{Entity: "account", Incremental: true, Cursor: cursor}, func(sdk.Page) error { return nil })
	if !errors.Is(err, sdk.ErrCursorExpired) {
		t.Fatalf("an incremental pass on an expired token: %v, want ErrCursorExpired", err)
	}
	base := strings.SplitN(cursor, "/api/", 2)[0]
	for _, tc := range []struct {
		name string
		req  sdk.FetchRequest
	}{
		{"a_delta_link_of_another_organization", sdk.FetchRequest{Incremental: true, Cursor: "https://other.crm.dynamics.com/api/data/v9.2/accounts?$deltatoken=1"}},
		{"a_full_pass_cursor_this_connector_did_not_make", sdk.FetchRequest{Cursor: "page 2"}},
		{"a_full_pass_cursor_whose_paging_cookie_the_service_refuses", sdk.FetchRequest{
			Cursor: `{"next":"` + base + `/api/data/v9.2/accounts?$select=accountid&$skiptoken=garbage"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Entity = "account"
			err := c.Fetch(ctx, tc.req, func(sdk.Page) error { return nil })
			if !errors.Is(err, sdk.ErrCursorExpired) {
				t.Errorf("Fetch: %v, want ErrCursorExpired", err)
			}
		})
	}
}

func TestAFilteredFullPassMissesNoChangeMadeDuringIt(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 5, Accounts: 12, ContactsPerAccount: -1, NotesPerAccount: -1})
	c := configured(t, cfg)
	fields := []string{"name", "telephone1", "ownerid"}
	req := sdk.FetchRequest{Entity: "account", Fields: fields, Filter: mustParse(t, "startswith(name, 'Z')"), PageSize: 2}
	for _, id := range emu.IDs("accounts")[:5] {
		emu.Upsert("accounts", id, map[string]any{"name": "Zed " + id[:4]})
	}
	during := uuid.NewString()
	var got []sdk.Record
	var cursor string
	pages := 0
	err := c.Fetch(ctx, req, func(p sdk.Page) error {
		got = append(got, decoded(t, p.Records)...)
		if pages++; pages == 1 {
			emu.Upsert("accounts", during, map[string]any{"name": "Zeta, made during the pass", "telephone1": "555-0199"})
		}
		if p.Done {
			cursor = p.Cursor
		}
		return nil
	})
	if err != nil || pages < 3 || cursor == "" {
		t.Fatalf("filtered full pass: %d pages, cursor %q, %v", pages, cursor, err)
	}
	for _, r := range got {
		if !strings.HasPrefix(r.Fields["name"].(string), "Z") {
			t.Errorf("the filtered pass returned %v", r.Fields["name"])
		}
	}
	gone := emu.IDs("accounts")[0]
	if gone == during {
		gone = emu.IDs("accounts")[1]
	}
	emu.Delete("accounts", gone)
	recs, deleted, next := pass(t, c, sdk.FetchRequest{Entity: "account", Fields: fields, Incremental: true, Cursor: cursor, PageSize: 2})
	r, ok := find(recs, during)
	if !ok {
		t.Fatalf("the record made during the filtered pass is not in the next incremental pass (%d records)", len(recs))
	}
	if r.Fields["telephone1"] != "555-0199" || r.Version == "" || r.Fields["ownerid"] == nil {
		t.Errorf("the incremental record lacks its fields: %+v", r)
	}
	if !slices.Contains(deleted, gone) {
		t.Errorf("the deletion of %s is not reported (deleted %v)", gone, deleted)
	}
	if recs, deleted, _ := pass(t, c, sdk.FetchRequest{Entity: "account", Fields: fields, Incremental: true, Cursor: next}); len(recs)+len(deleted) != 0 {
		t.Errorf("a pass from the newest cursor returned %d records and %d deletions", len(recs), len(deleted))
	}
}

func TestLookupsAreEntityAndID(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 2, Accounts: 2, ContactsPerAccount: 1, NotesPerAccount: -1})
	c := configured(t, cfg)
	account := emu.IDs("accounts")[0]
	parent := emu.IDs("contacts")[0]
	for _, tc := range []struct {
		name string
		ref  map[string]any
	}{
		{"a_customer_lookup_to_an_account", map[string]any{"entity": "account", "id": account}},
		{"a_customer_lookup_to_a_contact", map[string]any{"entity": "contact", "id": parent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := uuid.NewString()
			res := upload(t, c, false, op("contact", sdk.OpCreate, id, "", map[string]any{"lastname": "Lookup", "parentcustomerid": tc.ref}))[0]
			if res.Status != sdk.StatusApplied || res.Record == nil {
				t.Fatalf("create: %+v", res)
			}
			if got := res.Record.Fields["parentcustomerid"]; fmt.Sprint(got) != fmt.Sprint(tc.ref) {
				t.Errorf("the created record's lookup is %v, want %v", got, tc.ref)
			}
			recs, _, _ := pass(t, c, sdk.FetchRequest{Entity: "contact", Fields: []string{"lastname", "parentcustomerid"},
				Filter: mustParse(t, "parentcustomerid eq "+tc.ref["id"].(string))})
			r, ok := find(recs, id)
			if !ok || fmt.Sprint(r.Fields["parentcustomerid"]) != fmt.Sprint(tc.ref) {
				t.Errorf("a pass filtered on the lookup gives %+v (found %v)", r.Fields, ok)
			}
		})
	}
}

func TestACreateWhoseAnswerWasLostIsNotMadeTwice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		atomic bool
		n      int
	}{
		{"a_single_create", false, 1},
		{"an_all_or_nothing_group", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 2, ContactsPerAccount: -1, NotesPerAccount: -1})
			c := configured(t, cfg)
			var ops []sdk.Op
			for i := range tc.n {
				ops = append(ops, op("account", sdk.OpCreate, uuid.NewString(), "", map[string]any{"name": fmt.Sprintf("Lost answer %d", i)}))
			}
			before := emu.Count("accounts")
			emu.InjectFault(emulator.Fault{Path: "$batch", AfterApply: true})
			if _, err := c.Upload(ctx, sdk.UploadRequest{Ops: ops, Atomic: tc.atomic}); err == nil {
				t.Fatal("the upload whose answer was lost reported success")
			}
			for i, r := range upload(t, c, tc.atomic, ops...) {
				if r.Status != sdk.StatusApplied || r.Record == nil || r.Record.Fields["name"] != ops[i].Fields["name"] {
					t.Errorf("the retried create %d: %+v, want applied with the server's record", i, r)
				}
			}
			if n := emu.Count("accounts"); n != before+tc.n {
				t.Errorf("accounts went from %d to %d: the creates were made %d times", before, n, n-before)
			}
		})
	}
}

func TestWritesMeetTheServerState(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 8, ContactsPerAccount: -1, NotesPerAccount: -1})
	c := configured(t, cfg)
	ids := emu.IDs("accounts")
	stale := func(id string) string {
		v := etagOf(t, emu, "accounts", id)
		emu.Upsert("accounts", id, map[string]any{"name": "Changed on the server"})
		return v
	}
	deleted := func(id string) string {
		v := etagOf(t, emu, "accounts", id)
		emu.Delete("accounts", id)
		return v
	}
	missing := uuid.NewString()
	for i, tc := range []struct {
		name    string
		op      func(id string) sdk.Op
		status  sdk.OpStatus
		record  bool
		lookups []string
	}{
		{"a_stale_update_is_a_conflict_with_the_server_record", func(id string) sdk.Op {
			return op("account", sdk.OpUpdate, id, stale(id), map[string]any{"telephone1": "1"})
		}, sdk.StatusConflict, true, nil},
		{"a_stale_delete_is_a_conflict", func(id string) sdk.Op { return op("account", sdk.OpDelete, id, stale(id), nil) }, sdk.StatusConflict, true, nil},
		{"an_update_of_a_deleted_record_is_not_found", func(id string) sdk.Op {
			return op("account", sdk.OpUpdate, id, deleted(id), map[string]any{"telephone1": "1"})
		}, sdk.StatusNotFound, false, nil},
		{"a_forced_update_of_a_deleted_record_does_not_recreate_it", func(id string) sdk.Op {
			deleted(id)
			return op("account", sdk.OpUpdate, id, "", map[string]any{"telephone1": "1"})
		}, sdk.StatusNotFound, false, nil},
		{"a_delete_of_a_deleted_record_is_not_found", func(id string) sdk.Op { deleted(id); return op("account", sdk.OpDelete, id, "", nil) }, sdk.StatusNotFound, false, nil},
		{"a_create_whose_lookup_target_is_missing_names_it", func(string) sdk.Op {
			return op("contact", sdk.OpCreate, uuid.NewString(), "", map[string]any{"lastname": "Orphan",
				"parentcustomerid": map[string]any{"entity": "account", "id": missing}})
		}, sdk.StatusRejected, false, []string{"parentcustomerid"}},
		{"an_unknown_column_is_rejected", func(id string) sdk.Op {
			return op("account", sdk.OpUpdate, id, "", map[string]any{"nosuchcolumn": "1"})
		}, sdk.StatusRejected, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.op(ids[i])
			r := upload(t, c, false, o)[0]
			if r.Status != tc.status || (r.Record != nil) != tc.record || !slices.Equal(r.MissingLookups, tc.lookups) {
				t.Errorf("result %+v, want %s (record %v, missing lookups %v)", r, tc.status, tc.record, tc.lookups)
			}
			if tc.record && r.Record != nil && r.Record.Fields["name"] != "Changed on the server" {
				t.Errorf("the conflict carries %v, not the server's record", r.Record.Fields)
			}
			if o.Kind == sdk.OpUpdate && tc.status == sdk.StatusNotFound {
				if _, ok := emu.Get("accounts", o.ID); ok {
					t.Errorf("the update re-created deleted record %s", o.ID)
				}
			}
		})
	}
	t.Run("a_failed_group_applies_nothing_and_names_its_culprit", func(t *testing.T) {
		id := ids[len(ids)-1]
		create := op("account", sdk.OpCreate, uuid.NewString(), "", map[string]any{"name": "Never made"})
		update := op("account", sdk.OpUpdate, id, stale(id), map[string]any{"telephone1": "2"})
		before := emu.Count("accounts")
		res := upload(t, c, true, create, update)
		if res[1].Status != sdk.StatusConflict || res[1].Record == nil {
			t.Errorf("the stale update of the group: %+v, want a conflict with the record", res[1])
		}
		if res[0].Status != sdk.StatusRejected || !strings.Contains(res[0].Message, update.MutationID) {
			t.Errorf("the innocent create: %+v, want rejected naming the culprit", res[0])
		}
		if n := emu.Count("accounts"); n != before {
			t.Errorf("accounts went from %d to %d", before, n)
		}
	})
}

func TestThrottlingIsWaitedOut(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 9, ContactsPerAccount: -1, NotesPerAccount: -1,
		RequestBudget: 4, BudgetWindow: time.Second})
	c := configured(t, cfg)
	recs, _, _ := pass(t, c, sdk.FetchRequest{Entity: "account", PageSize: 2})
	if len(recs) != emu.Count("accounts") {
		t.Errorf("got %d of %d accounts", len(recs), emu.Count("accounts"))
	}
}

func TestBadAnswersAreClearErrors(t *testing.T) {
	emu, direct := startEmulator(t, emulator.Options{Seed: 1, Accounts: 6, ContactsPerAccount: -1, NotesPerAccount: -1})
	rewriteAccounts := func(fn func(r *http.Response, body []byte) []byte) func(*http.Response) error {
		return func(r *http.Response) error {
			if r.Request.Method != http.MethodGet || !strings.Contains(r.Request.URL.Path, "/accounts") {
				return nil
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			r.Body.Close()
			body = fn(r, body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			r.ContentLength = int64(len(body))
			r.Header.Del("Content-Length")
			return nil
		}
	}
	for _, tc := range []struct {
		name  string
		cfg   func() json.RawMessage
		code  sdk.ErrorCode
		wants []string
	}{
		{"an_html_error_page", func() json.RawMessage {
			emu.InjectFault(emulator.Fault{Path: "accounts", Method: "GET", Status: 404, Garbage: true})
			return direct
		}, sdk.CodeNotFound, []string{"account", "The service is unavailable"}},
		{"an_html_page_with_status_200", func() json.RawMessage {
			return proxy(t, emu, rewriteAccounts(func(r *http.Response, _ []byte) []byte {
				r.Header.Set("Content-Type", "text/html")
				return []byte("<html><title>Sign in to your account</title></html>")
			}))
		}, sdk.CodeBadResponse, []string{"account", "Sign in to your account"}},
		{"malformed_json", func() json.RawMessage {
			return proxy(t, emu, rewriteAccounts(func(_ *http.Response, b []byte) []byte { return b[:len(b)/2] }))
		}, sdk.CodeBadResponse, []string{"account", "malformed"}},
		{"a_next_link_to_another_host", func() json.RawMessage {
			return proxy(t, emu, rewriteAccounts(func(r *http.Response, b []byte) []byte {
				return []byte(strings.ReplaceAll(string(b), `"@odata.nextLink":"http://`+r.Request.Host, `"@odata.nextLink":"https://collector.example.net`))
			}))
		}, sdk.CodeBadResponse, []string{"account", "another host", "collector.example.net"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := configured(t, tc.cfg())
			err := c.Fetch(ctx, sdk.FetchRequest{Entity: "account", PageSize: 2}, func(sdk.Page) error { return nil })
			if sdk.CodeOf(err) != tc.code {
				t.Fatalf("Fetch: %v (code %s), want code %s", err, sdk.CodeOf(err), tc.code)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNotesAreFiles(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 4, Accounts: 3, ContactsPerAccount: -1, NotesPerAccount: 1})
	c := configured(t, cfg)
	var files []sdk.File
	var cursor string
	err := c.ListFiles(ctx, sdk.ListFilesRequest{Entities: []string{"account"}}, func(p sdk.FilePage) error {
		files = append(files, p.Files...)
		cursor = p.Cursor
		return nil
	})
	if err != nil || len(files) != 3 || cursor == "" {
		t.Fatalf("ListFiles: %d files, cursor %q, %v", len(files), cursor, err)
	}
	f := files[0]
	if f.Record.Entity != "account" || f.Size <= 0 || f.Name == "" || f.Version == "" {
		t.Errorf("listed file %+v", f)
	}
	rc, got, err := c.ReadFile(ctx, sdk.ReadFileRequest{ID: f.ID, Offset: 1, Length: 4})
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(part) != int(min(4, f.Size-1)) || got.ID != f.ID {
		t.Errorf("ReadFile from 1 for 4: %q (%v), file %+v", part, err, got)
	}
	emu.Delete("annotations", f.ID)
	var deleted []string
	err = c.ListFiles(ctx, sdk.ListFilesRequest{Cursor: cursor}, func(p sdk.FilePage) error {
		deleted = append(deleted, p.Deleted...)
		return nil
	})
	if err != nil || !slices.Contains(deleted, f.ID) {
		t.Errorf("the listing after deleting note %s reports deleted %v (%v)", f.ID, deleted, err)
	}
	if _, _, err := c.ReadFile(ctx, sdk.ReadFileRequest{ID: f.ID}); sdk.CodeOf(err) != sdk.CodeNotFound {
		t.Errorf("reading a deleted note: %v, want not_found", err)
	}
}

// TestARetriedFileWriteMakesOneNote: the hub sends a write again with the
// same key when it lost the answer; the note is made once.
func TestARetriedFileWriteMakesOneNote(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 6, Accounts: 2, ContactsPerAccount: -1, NotesPerAccount: -1})
	c := configured(t, cfg)
	acc := emu.IDs("accounts")[0]
	req := sdk.WriteFileRequest{Record: sdk.RecordRef{Entity: "account", ID: acc}, Name: "visit report.pdf",
		MimeType: "application/pdf", Size: 5, Key: "upload-7f3a"}
	first, err := c.WriteFile(ctx, req, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.WriteFile(ctx, req, strings.NewReader("hello"))
	if err != nil {
		t.Fatalf("the retried write: %v", err)
	}
	if again.ID != first.ID || emu.Count("annotations") != 1 {
		t.Errorf("the retried write answered note %s (first %s); the CRM holds %d notes", again.ID, first.ID, emu.Count("annotations"))
	}
	other := req
	other.Key = "upload-8b4c"
	if f, err := c.WriteFile(ctx, other, strings.NewReader("hello")); err != nil || f.ID == first.ID || emu.Count("annotations") != 2 {
		t.Errorf("another key: note %s, %v; the CRM holds %d notes", f.ID, err, emu.Count("annotations"))
	}
	clash := req
	clash.Name = "something else.pdf"
	if _, err := c.WriteFile(ctx, clash, strings.NewReader("hello")); sdk.CodeOf(err) != sdk.CodeInvalidRequest {
		t.Errorf("a key reused for another file: %v", err)
	}
}

// TestWriteBodiesFromTheFieldsJSON: the connector writes a create's or an
// update's body from the op's fields JSON, as the host sends them: values
// pass as written, lookups become @odata.bind references, and whatever
// cannot be sent is refused with its reason, the rest of the batch going on.
func TestWriteBodiesFromTheFieldsJSON(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 4, Accounts: 2, ContactsPerAccount: 1, NotesPerAccount: -1})
	c := configured(t, cfg)
	account, contact := emu.IDs("accounts")[0], emu.IDs("contacts")[0]
	rawOp := func(entity string, kind sdk.OpKind, id, raw string) sdk.Op {
		return sdk.Op{MutationID: uuid.NewString(), Entity: entity, Kind: kind, ID: id, Raw: json.RawMessage(raw)}
	}
	for _, tc := range []struct {
		name string
		op   sdk.Op
		want string            // a refusal's reason, or "" for applied
		has  map[string]string // fields of the record applied, as JSON
	}{
		{name: "strings_pass_as_written", op: rawOp("account", sdk.OpCreate, uuid.NewString(),
			`{"name":"Zo\u00eb \"Q\" <b>&amp;","numberofemployees":12}`),
			has: map[string]string{"name": `"Zoë \"Q\" <b>&amp;"`, "numberofemployees": "12"}},
		{name: "a_lookup_with_its_table", op: rawOp("account", sdk.OpCreate, uuid.NewString(),
			`{"name":"L","primarycontactid":{"entity":"contact","id":"`+strings.ToUpper(contact)+`"}}`),
			has: map[string]string{"primarycontactid": `{"entity":"contact","id":"` + contact + `"}`}},
		{name: "a_lookup_as_a_bare_id_to_its_only_table", op: rawOp("account", sdk.OpCreate, uuid.NewString(),
			`{"name":"L","primarycontactid":"`+contact+`"}`),
			has: map[string]string{"primarycontactid": `{"entity":"contact","id":"` + contact + `"}`}},
		{name: "an_update_clears_a_lookup", op: rawOp("contact", sdk.OpUpdate, contact, `{"parentcustomerid":null}`),
			has: map[string]string{"parentcustomerid": "null"}},
		{name: "a_bare_id_to_a_lookup_of_two_tables", op: rawOp("contact", sdk.OpCreate, uuid.NewString(),
			`{"lastname":"L","parentcustomerid":"`+account+`"}`), want: `points to tables [account contact], not ""`},
		{name: "a_lookup_id_of_the_wrong_type", op: rawOp("contact", sdk.OpCreate, uuid.NewString(),
			`{"lastname":"L","parentcustomerid":{"entity":"account","id":7}}`), want: `not {"entity":"account","id":7}`},
		{name: "a_lookup_id_that_is_not_a_guid", op: rawOp("contact", sdk.OpCreate, uuid.NewString(),
			`{"lastname":"L","parentcustomerid":{"entity":"account","id":"x1"}}`), want: `id "x1" is not a GUID`},
		{name: "a_lookup_to_a_table_it_does_not_point_to", op: rawOp("contact", sdk.OpCreate, uuid.NewString(),
			`{"lastname":"L","parentcustomerid":{"entity":"systemuser","id":"`+account+`"}}`), want: `not "systemuser"`},
		{name: "a_column_set_by_the_server", op: rawOp("account", sdk.OpCreate, uuid.NewString(),
			`{"name":"L","createdon":"2020-01-01T00:00:00Z"}`), want: "column createdon of table account cannot be set on create"},
		{name: "an_unknown_column", op: rawOp("account", sdk.OpCreate, uuid.NewString(), `{"name":"L","nosuchcolumn":1}`),
			want: "nosuchcolumn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each goes with a plain create, which a refusal must not sink.
			other := op("account", sdk.OpCreate, uuid.NewString(), "", map[string]any{"name": "Neighbour"})
			res := upload(t, c, false, tc.op, other)
			if res[1].Status != sdk.StatusApplied {
				t.Errorf("the op beside it: %+v", res[1])
			}
			got := res[0]
			if tc.want != "" {
				if got.Status != sdk.StatusRejected || !strings.Contains(got.Message, tc.want) {
					t.Errorf("got %s %q, want rejected mentioning %q", got.Status, got.Message, tc.want)
				}
				return
			}
			if got.Status != sdk.StatusApplied || got.Record == nil {
				t.Fatalf("got %+v, want applied with the record", got)
			}
			for f, want := range tc.has {
				b, err := json.Marshal(got.Record.Fields[f])
				if err != nil {
					t.Fatal(err)
				}
				assert.JSONEq(t, want, string(b), f)
			}
		})
	}
}
