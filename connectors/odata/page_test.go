package odata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// fixture reads a body copied verbatim from the Dataverse documentation
// (testdata/dataverse mirrors the project's shared fixtures).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dataverse", name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

func TestDocumentedPagesDecode(t *testing.T) {
	for _, tc := range []struct {
		file        string
		ids         []string
		deleted     []string
		next, delta bool
	}{
		{"paged-contacts-page1.json", []string{"49b0be2e-d01c-ed11-b83e-000d3a572421", "70bf4d48-34cb-ed11-b596-0022481d68cd"}, nil, true, false},
		{"paged-contacts-page2.json", []string{"72bf4d48-34cb-ed11-b596-0022481d68cd", "74bf4d48-34cb-ed11-b596-0022481d68cd"}, nil, true, false},
		{"change-tracking-initial.json", []string{"60c4e274-0d87-e711-80e5-00155db19e6d"}, nil, false, true},
		{"change-tracking-delta-with-deleted.json", []string{"60c4e274-0d87-e711-80e5-00155db19e6d"}, []string{"2e451703-c686-e711-80e5-00155db19e6d"}, false, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var ids []string
			info, err := DecodePage(bytes.NewReader(fixture(t, tc.file)), func(r Row) error {
				if ETag(r) == "" {
					t.Errorf("row %v has no @odata.etag", r)
				}
				for k, v := range r {
					if strings.HasSuffix(k, "id") && !strings.HasPrefix(k, "@") {
						ids = append(ids, v.(string))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.ids) || fmt.Sprint(info.Deleted) != fmt.Sprint(tc.deleted) {
				t.Errorf("rows %v deleted %v, want %v and %v", ids, info.Deleted, tc.ids, tc.deleted)
			}
			if (info.NextLink != "") != tc.next || (info.DeltaLink != "") != tc.delta {
				t.Errorf("nextLink %q deltaLink %q", info.NextLink, info.DeltaLink)
			}
			if info.Context == "" {
				t.Error("no @odata.context")
			}
		})
	}
}

// TestRawRowsAreTheRows: DecodePageRaw hands over the same rows and
// deletions as DecodePage, as the JSON the service sent.
func TestRawRowsAreTheRows(t *testing.T) {
	for _, file := range []string{"paged-contacts-page1.json", "change-tracking-delta-with-deleted.json"} {
		t.Run(file, func(t *testing.T) {
			var rows, raws []Row
			info, err := DecodePage(bytes.NewReader(fixture(t, file)), func(r Row) error { rows = append(rows, r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			rawInfo, err := DecodePageRaw(bytes.NewReader(fixture(t, file)), func(b json.RawMessage) error {
				var r Row
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.UseNumber()
				if err := dec.Decode(&r); err != nil {
					return err
				}
				raws = append(raws, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rows) != fmt.Sprint(raws) || fmt.Sprint(info) != fmt.Sprint(rawInfo) {
				t.Errorf("raw rows %v, %+v\nwant %v, %+v", raws, rawInfo, rows, info)
			}
		})
	}
	if _, err := DecodePageRaw(strings.NewReader(`{"value":[1]}`), func(json.RawMessage) error { return nil }); !errors.Is(err, ErrBadBody) {
		t.Errorf("a row that is not an object: %v", err)
	}
}

func TestDeletedRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  Row
		id   string
	}{
		{"a_deleted_entity_context_with_an_id", Row{"@odata.context": "x/$metadata#accounts/$deletedEntity", "id": "a1", "reason": "deleted"}, "a1"},
		{"a_reason_without_the_context", Row{"id": "a2", "reason": "deleted"}, "a2"},
		{"business_central_changed_reason", Row{"@odata.context": "x/$deletedEntity", "id": "a3", "reason": "changed"}, "a3"},
		{"odata_401_removed_with_an_at_id", Row{"@removed": map[string]any{"reason": "deleted"}, "@id": "accounts(a4)"}, "a4"},
		{"an_entity_whose_column_is_called_reason", Row{"@odata.etag": `W/"1"`, "id": "a5", "reason": "deleted"}, ""},
		{"a_plain_entity", Row{"@odata.etag": `W/"1"`, "accountid": "a6"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := DeletedKey(tc.row)
			if id != tc.id || ok != (tc.id != "") {
				t.Errorf("DeletedKey = %q, %v; want %q", id, ok, tc.id)
			}
			raw, err := json.Marshal(tc.row)
			if err != nil {
				t.Fatal(err)
			}
			if id, ok := DeletedKeyRaw(raw); id != tc.id || ok != (tc.id != "") {
				t.Errorf("DeletedKeyRaw(%s) = %q, %v; want %q", raw, id, ok, tc.id)
			}
		})
	}
}

func TestDecodePageStreamsRowByRow(t *testing.T) {
	pr, pw := io.Pipe()
	seen := make(chan string, 4)
	done := make(chan error, 1)
	go func() {
		_, err := DecodePage(pr, func(r Row) error { seen <- r["id"].(string); return nil })
		done <- err
	}()
	fmt.Fprint(pw, `{"value":[{"id":"first"},`)
	select {
	case id := <-seen:
		if id != "first" {
			t.Fatalf("first row = %q", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first row was not handed over before the rest of the page arrived")
	}
	fmt.Fprint(pw, `{"id":"second"}],"@odata.nextLink":"https://h/next"}`)
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMalformedPagesAreBadBodies(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"html", "<html><body>Service Unavailable</body></html>"},
		{"truncated_json", `{"value":[{"id":"a"},`},
		{"value_is_not_an_array", `{"value":{"id":"a"}}`},
		{"a_row_is_not_an_object", `{"value":[1]}`},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePage(strings.NewReader(tc.body), func(Row) error { return nil })
			if !errors.Is(err, ErrBadBody) {
				t.Errorf("DecodePage(%q) = %v, want ErrBadBody", tc.body, err)
			}
		})
	}
	t.Run("a_broken_connection_is_not_a_bad_body", func(t *testing.T) {
		broken := io.MultiReader(strings.NewReader(`{"value":[`), &failingReader{errors.New("connection reset")})
		_, err := DecodePage(broken, func(Row) error { return nil })
		if err == nil || errors.Is(err, ErrBadBody) {
			t.Errorf("DecodePage over a broken connection = %v, want a read error that is not ErrBadBody", err)
		}
	})
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }

// pagedServer serves two pages; the first one's nextLink is next(base).
func pagedServer(t *testing.T, next func(base string) string) (*httptest.Server, *[]string) {
	t.Helper()
	var prefers []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefers = append(prefers, r.Header.Get("Prefer"))
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		if r.URL.Query().Get("$skiptoken") == "" {
			fmt.Fprintf(w, `{"value":[{"@odata.etag":"W/\"1\"","id":"a"}],"@odata.nextLink":%q}`, next(srv.URL))
			return
		}
		fmt.Fprint(w, `{"value":[{"@odata.etag":"W/\"2\"","id":"b"}],"@odata.deltaLink":"delta?$deltatoken=9"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &prefers
}

func TestPagerFollowsNextLinksWithTheSamePreferences(t *testing.T) {
	srv, prefers := pagedServer(t, func(base string) string { return base + "/api/accounts?$skiptoken=%3Ccookie%20page=%222%22/%3E" })
	p := &Pager{Client: httpx.New(httpx.Options{BaseURL: srv.URL}), Prefer: Prefer{MaxPageSize: 1, TrackChanges: true}}
	var ids []string
	var last PageInfo
	err := p.Each(context.Background(), srv.URL+"/api/accounts?$select=id", func(r Row) error {
		ids = append(ids, r["id"].(string))
		return nil
	}, func(info PageInfo) error { last = info; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "a,b" {
		t.Errorf("rows %v, want a,b", ids)
	}
	for i, pr := range *prefers {
		if pr != "odata.maxpagesize=1,odata.track-changes" {
			t.Errorf("page %d was asked with Prefer %q", i+1, pr)
		}
	}
	if last.DeltaLink != srv.URL+"/api/delta?$deltatoken=9" {
		t.Errorf("a relative deltaLink resolves to %q", last.DeltaLink)
	}
}

func TestPagerRefusesANextLinkToAnotherHost(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer elsewhere.Close()
	srv, _ := pagedServer(t, func(string) string { return elsewhere.URL + "/api/accounts?$skiptoken=2" })
	p := &Pager{Client: httpx.New(httpx.Options{BaseURL: srv.URL, TokenSource: staticToken("secret-token")})}
	err := p.Each(context.Background(), srv.URL+"/api/accounts", func(Row) error { return nil }, func(PageInfo) error { return nil })
	if !errors.Is(err, httpx.ErrHostNotAllowed) || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("following a nextLink to another host: %v, want a refusal", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the other host got %d requests", hits.Load())
	}
	if se := SDKError("fetch accounts", err); sdk.CodeOf(se) != sdk.CodeBadResponse {
		t.Errorf("the refusal maps to %s, want %s", sdk.CodeOf(se), sdk.CodeBadResponse)
	}
}

func TestPagerRefusesAnHTMLPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><head><title>Sign in to your account</title></head><body>…</body></html>")
	}))
	defer srv.Close()
	p := &Pager{Client: httpx.New(httpx.Options{BaseURL: srv.URL})}
	_, err := p.Page(context.Background(), srv.URL+"/api/accounts", func(Row) error { return nil })
	if !errors.Is(err, ErrBadBody) || !strings.Contains(err.Error(), "Sign in to your account") {
		t.Fatalf("an HTML page: %v, want ErrBadBody quoting the page", err)
	}
}

// TestPagesDecodeAsEncodingJSONDoes: the page scanner finds each row and
// member where encoding/json would, whatever the strings hold and however
// the page is laid out, and refuses what encoding/json refuses.
func TestPagesDecodeAsEncodingJSONDoes(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"strings_holding_braces_quotes_and_escapes",
			`{"value":[{"id":"a","t":"} ] { [ \" \\","u":"\u007d\\\"x"},{"id":"b","n":[1,{"x":"]"}],"e":{}}]}`},
		{"links_before_value_and_a_count_last",
			"{\r\n \"@odata.nextLink\" : \"https://h/next?$skiptoken=%7B%7D\",\n\t\"value\" : [ ] , \"@odata.count\":-12.5e3}"},
		{"literals_and_nested_arrays", `{"value":[{"id":"c","a":[[true,false,null],[]],"n":0,"m":-0.5}],"@odata.deltaLink":"d"}`},
		{"an_empty_page", `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Row
			info, err := DecodePage(strings.NewReader(tc.body), func(r Row) error { got = append(got, r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			var want struct {
				Value []Row  `json:"value"`
				Next  string `json:"@odata.nextLink"`
				Delta string `json:"@odata.deltaLink"`
			}
			dec := json.NewDecoder(strings.NewReader(tc.body))
			dec.UseNumber()
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want.Value) || info.NextLink != want.Next || info.DeltaLink != want.Delta {
				t.Errorf("got %v next %q delta %q\nwant %v next %q delta %q", got, info.NextLink, info.DeltaLink, want.Value, want.Next, want.Delta)
			}
		})
	}
	for _, body := range []string{`{"value":[{"id":"a",}]}`, `{"value":[{"id":"a"}}`, `{"value":[{"id":tru}]}`, `{"value" [] }`,
		`{"value":[{"id":"a"}] "x":1}`, `{"@odata.nextLink":7,"value":[]}`} {
		if _, err := DecodePage(strings.NewReader(body), func(Row) error { return nil }); !errors.Is(err, ErrBadBody) {
			t.Errorf("DecodePage(%s) = %v, want ErrBadBody", body, err)
		}
	}
}
