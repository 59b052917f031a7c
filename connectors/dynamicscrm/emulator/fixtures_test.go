package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testdata/dataverse holds verbatim copies of /work/shared/fixtures/dataverse
// (bodies from Microsoft Learn); the emulator must produce the same shapes.

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dataverse", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureJSON(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func sameKeys(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	w, g := keysOf(want), keysOf(got)
	slices.Sort(w)
	slices.Sort(g)
	if !slices.Equal(w, g) {
		t.Errorf("%s: keys %v, want %v", what, g, w)
	}
}

func TestEveryFixtureParses(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "dataverse"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 10 {
		t.Fatalf("expected the 10 dataverse fixtures, found %d", len(entries))
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			switch filepath.Ext(e.Name()) {
			case ".json":
				fixtureJSON(t, e.Name())
			case ".txt":
				parts := batchShape(t, crlf(fixture(t, e.Name())), "")
				if len(parts) == 0 {
					t.Fatal("no parts")
				}
			default:
				t.Fatalf("unexpected fixture %s", e.Name())
			}
		})
	}
}

func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// partShape describes one response part: MIME headers, status line and the
// inner response's header names.
type partShape struct {
	partHeaders  string
	status       int
	innerHeaders string
	changeset    []partShape
}

func (p partShape) String() string {
	return fmt.Sprintf("{%s %d %s %v}", p.partHeaders, p.status, p.innerHeaders, p.changeset)
}

// batchShape parses a batch response (boundary taken from the first line
// when empty) the way a connector would, with mime/multipart.
func batchShape(t *testing.T, body []byte, boundary string) []partShape {
	t.Helper()
	if boundary == "" {
		first, _, _ := bytes.Cut(body, []byte("\r\n"))
		boundary = strings.TrimPrefix(string(first), "--")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var out []partShape
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		names := headerNames(http.Header(p.Header))
		ct, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ct == "multipart/mixed" {
			inner, _ := io.ReadAll(p)
			out = append(out, partShape{partHeaders: names, changeset: batchShape(t, inner, params["boundary"])})
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			t.Fatalf("part is not an HTTP response: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		if len(bytes.TrimSpace(b)) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("part body is not JSON: %v\n%s", err, b)
			}
		}
		out = append(out, partShape{partHeaders: names, status: resp.StatusCode, innerHeaders: headerNames(resp.Header)})
	}
	return out
}

func headerNames(h http.Header) string {
	var n []string
	for k := range h {
		n = append(n, k)
	}
	slices.Sort(n)
	return strings.Join(n, ",")
}

func TestEmulatorResponsesHaveTheFixtureShapes(t *testing.T) {
	c := start(t, Options{Seed: 1})

	t.Run("paged contacts have context, value and a nextLink with a paging cookie", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "contacts?$select=fullname", nil, "Prefer", "odata.maxpagesize=2")
		c.mustStatus(r, http.StatusOK)
		if got := r.header.Get("Preference-Applied"); got != "odata.maxpagesize=2" {
			t.Errorf("Preference-Applied = %q", got)
		}
		got, want := r.json(t), fixtureJSON(t, "paged-contacts-page1.json")
		sameKeys(t, "page", want, got)
		sameKeys(t, "row", want["value"].([]any)[0].(map[string]any), got["value"].([]any)[0].(map[string]any))
		if !strings.HasSuffix(got["@odata.context"].(string), "/api/data/v9.2/$metadata#contacts(fullname)") {
			t.Errorf("context %v", got["@odata.context"])
		}
		for _, link := range []string{want["@odata.nextLink"].(string), got["@odata.nextLink"].(string)} {
			u, err := url.Parse(strings.Replace(link, "[Organization URI]", "http://x", 1))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u.RawQuery, "$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253ccontactid%2520last%253d%2522%257b") {
				t.Errorf("nextLink query has another shape: %s", u.RawQuery)
			}
			ck, cerr := decodeCookie(u.Query().Get("$skiptoken"), "contactid")
			if cerr != nil || ck.page != 1 || ck.tracking {
				t.Errorf("cookie %+v %v", ck, cerr)
			}
		}
	})

	t.Run("change tracking initial and delta pages match the documented members", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "accounts?$select=name,accountnumber,telephone1,fax", nil, "Prefer", "odata.track-changes")
		c.mustStatus(r, http.StatusOK)
		got := r.json(t)
		want := fixtureJSON(t, "change-tracking-initial.json")
		sameKeys(t, "initial", want, got)
		sameKeys(t, "initial row", want["value"].([]any)[0].(map[string]any), got["value"].([]any)[0].(map[string]any))

		ids := c.srv.IDs("accounts")
		c.srv.Upsert("accounts", ids[0], map[string]any{"telephone1": "555000"})
		c.srv.Delete("accounts", ids[1])
		link := strings.Replace(got["@odata.deltaLink"].(string), "$select=name,accountnumber,telephone1,fax", "$select=name,telephone1,fax", 1)
		d := c.do("GET", link, nil)
		c.mustStatus(d, http.StatusOK)
		dgot, dwant := d.json(t), fixtureJSON(t, "change-tracking-delta-with-deleted.json")
		sameKeys(t, "delta", dwant, dgot)
		dv, wv := dgot["value"].([]any), dwant["value"].([]any)
		if !strings.HasSuffix(dgot["@odata.context"].(string), "$metadata#accounts(name,telephone1,fax)/$delta") {
			t.Errorf("delta context %v", dgot["@odata.context"])
		}
		sameKeys(t, "deleted entry", wv[1].(map[string]any), dv[len(dv)-1].(map[string]any))
		sameKeys(t, "updated row", wv[0].(map[string]any), dv[0].(map[string]any))
	})

	t.Run("error bodies match the conditional-operation fixtures", func(t *testing.T) {
		c := c.with(t)
		missing := "00000000-0000-0000-0000-000000000001"
		r := c.do("PATCH", "accounts("+missing+")", map[string]any{"name": "x"}, "If-Match", "*")
		c.mustStatus(r, http.StatusNotFound)
		want := fixtureJSON(t, "error-404-upsert-if-match-star.json")
		sameKeys(t, "404", want, r.json(t))
		if _, msg := r.errorOf(t); msg != want["error"].(map[string]any)["message"] {
			t.Errorf("404 message %q", msg)
		}
		id := c.srv.IDs("accounts")[2]
		r = c.do("PATCH", "accounts("+id+")", map[string]any{"name": "x"}, "If-Match", `W/"1"`)
		c.mustStatus(r, http.StatusPreconditionFailed)
		want = fixtureJSON(t, "error-412-concurrency.json")
		if _, msg := r.errorOf(t); msg != want["error"].(map[string]any)["message"] {
			t.Errorf("412 message %q", msg)
		}
		r = c.do("PATCH", "accounts("+id+")", map[string]any{"name": "x"}, "If-None-Match", "*")
		c.mustStatus(r, http.StatusPreconditionFailed)
		want = fixtureJSON(t, "error-412-duplicate-if-none-match-star.json")
		if _, msg := r.errorOf(t); msg != want["error"].(map[string]any)["message"] {
			t.Errorf("412 duplicate message %q", msg)
		}
	})

	t.Run("a change set batch answers like the documented change set response", func(t *testing.T) {
		c := c.with(t)
		acc := c.srv.IDs("accounts")[3]
		parts := []string{changeset("cs1",
			op("POST", "/api/data/v9.2/annotations", `{"subject":"Task 1 in batch","objectid_account@odata.bind":"accounts(`+acc+`)"}`, "1"),
			op("POST", "/api/data/v9.2/annotations", `{"subject":"Task 2 in batch","objectid_account@odata.bind":"accounts(`+acc+`)"}`, "2"),
			op("POST", "/api/data/v9.2/annotations", `{"subject":"Task 3 in batch","objectid_account@odata.bind":"accounts(`+acc+`)"}`, "3"),
		), op("GET", "/api/data/v9.2/annotations?$select=subject&$filter=_objectid_value%20eq%20"+acc, "", "")}
		r := c.batch(parts)
		c.mustStatus(r, http.StatusOK)
		got := batchShape(t, r.body, boundaryOf(t, r))
		want := batchShape(t, crlf(fixture(t, "batch-response-changeset.txt")), "")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("shape\n got  %v\n want %v", got, want)
		}
	})

	t.Run("continue-on-error answers like the documented response", func(t *testing.T) {
		c := c.with(t)
		long := strings.Repeat("x", 600)
		parts := []string{
			op("POST", "/api/data/v9.2/annotations", `{"subject":"`+long+`"}`, ""),
			op("POST", "/api/data/v9.2/annotations", `{"subject":"Task 2 in batch"}`, ""),
			op("POST", "/api/data/v9.2/annotations", `{"subject":"Task 3 in batch"}`, ""),
		}
		r := c.batch(parts, "Prefer", "odata.continue-on-error")
		c.mustStatus(r, http.StatusOK)
		got := batchShape(t, r.body, boundaryOf(t, r))
		want := batchShape(t, crlf(fixture(t, "batch-response-continue-on-error.txt")), "")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("shape\n got  %v\n want %v", got, want)
		}
		body := string(r.body)
		wantErr := fixtureJSON(t, "error-400-validation-in-batch.json")
		if !strings.Contains(body, `"code":"0x80044331"`) || !strings.Contains(body, "The length of the 'subject' attribute of the 'annotation' entity exceeded the maximum allowed length of '500'.") {
			t.Errorf("validation error missing (want the shape of %v): %s", wantErr, body)
		}
	})
}
