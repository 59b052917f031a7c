package odata

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
)

// fixtures is the shared folder of real Dataverse bodies beside the project.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fixtures", "dataverse", name))
	if err != nil {
		b, err = os.ReadFile(filepath.Join("..", "dynamicscrm", "emulator", "testdata", "dataverse", name))
	}
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

func TestFilterTranslation(t *testing.T) {
	lookup := Dialect{NoIn: true, Property: func(f string) string {
		if f == "ownerid" {
			return "_ownerid_value"
		}
		return f
	}}
	for _, tc := range []struct {
		name, in, want string
		d              Dialect
	}{
		{"strings are quoted with doubled quotes", "name eq 'O''Neil'", "name eq 'O''Neil'", Dialect{}},
		{"guids stay bare and lookups map to their property", "ownerid eq 6F0D52C3-1A2B-4C3D-8E9F-001122334455", "_ownerid_value eq 6f0d52c3-1a2b-4c3d-8e9f-001122334455", lookup},
		{"datetimes are bare UTC", "modifiedon gt 2024-05-01T02:00:00+02:00", "modifiedon gt 2024-05-01T00:00:00Z", Dialect{}},
		{"numbers and bools", "revenue ge 1.5 and active eq true and n lt -3", "((revenue ge 1.5 and active eq true) and n lt -3)", Dialect{}},
		{"in becomes an or-chain where the service lacks it", "city in ('Oslo','Lyon')", "(city eq 'Oslo' or city eq 'Lyon')", lookup},
		{"in stays where the service has it", "city in ('Oslo','Lyon')", "city in ('Oslo','Lyon')", Dialect{}},
		{"functions and not", "not contains(name, 'x') or startswith(name, 'A')", "(not (contains(name,'x')) or startswith(name,'A'))", Dialect{}},
		{"null", "parentaccountid eq null", "parentaccountid eq null", Dialect{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := filter.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Filter(e, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Filter(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDocumentedPagesDecode(t *testing.T) {
	for _, tc := range []struct {
		file          string
		rows, deleted int
		next, delta   bool
	}{
		{"paged-contacts-page1.json", 2, 0, true, false},
		{"paged-contacts-page2.json", 2, 0, true, false},
		{"change-tracking-initial.json", -1, 0, false, true},
		{"change-tracking-delta-with-deleted.json", -1, 1, false, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			info, err := DecodePage(bytes.NewReader(fixture(t, tc.file)), func(map[string]any) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if tc.rows >= 0 && info.Rows != tc.rows {
				t.Errorf("rows = %d, want %d", info.Rows, tc.rows)
			}
			if len(info.Deleted) != tc.deleted {
				t.Errorf("deleted = %v, want %d", info.Deleted, tc.deleted)
			}
			if (info.NextLink != "") != tc.next || (info.DeltaLink != "") != tc.delta {
				t.Errorf("next %q delta %q", info.NextLink, info.DeltaLink)
			}
		})
	}
}

func TestDocumentedErrorsParse(t *testing.T) {
	for _, f := range []string{"error-412-concurrency.json", "error-412-duplicate-if-none-match-star.json", "error-404-upsert-if-match-star.json", "error-400-validation-in-batch.json"} {
		e := ParseError(412, fixture(t, f))
		if e.Message == "" || strings.Contains(e.Message, "not an OData error body") {
			t.Errorf("%s: %+v", f, e)
		}
	}
	if e := ParseError(502, []byte("<html><body>Bad gateway</body></html>")); !strings.Contains(e.Message, "Bad gateway") {
		t.Errorf("an HTML page gives %q", e.Message)
	}
	if CodeFor(http.StatusTooManyRequests) != sdk.CodeThrottled || CodeFor(401) != sdk.CodeAuth {
		t.Error("status codes map wrongly")
	}
}

func TestDocumentedBatchResponsesParse(t *testing.T) {
	crlf := func(b []byte) []byte {
		return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	}
	t.Run("a change set answers each op by Content-ID", func(t *testing.T) {
		body := crlf(fixture(t, "batch-response-changeset.txt"))
		boundary := strings.TrimPrefix(strings.SplitN(string(body), "\r\n", 2)[0], "--")
		parts, err := readParts("multipart/mixed; boundary="+boundary, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) < 3 || parts[0].id != "1" || parts[0].res.Status != 204 {
			t.Fatalf("parts = %+v", parts)
		}
	})
	t.Run("continue-on-error answers every request", func(t *testing.T) {
		body := crlf(fixture(t, "batch-response-continue-on-error.txt"))
		boundary := strings.TrimPrefix(strings.SplitN(string(body), "\r\n", 2)[0], "--")
		parts, err := readParts("multipart/mixed; boundary="+boundary, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) < 2 || parts[0].res.Status != 400 || ParseError(400, parts[0].res.Body).Code != "0x80044331" {
			t.Fatalf("parts = %+v", parts)
		}
	})
}

func TestBatchRoundTrip(t *testing.T) {
	sets := [][]BatchOp{{{Method: "POST", URL: "/api/data/v9.2/accounts", Body: []byte(`{"name":"a"}`)}},
		{{Method: "DELETE", URL: "/api/data/v9.2/accounts(1)"}, {Method: "DELETE", URL: "/api/data/v9.2/accounts(2)"}}}
	var buf bytes.Buffer
	ct, err := WriteBatch(&buf, sets)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "\r\nContent-ID: 1\r\n") || strings.Contains(strings.ReplaceAll(buf.String(), "\r\n", ""), "\n") {
		t.Fatalf("batch body is not CRLF multipart:\n%s", buf.String())
	}
	if !strings.HasPrefix(ct, "multipart/mixed; boundary=batch_") {
		t.Fatalf("content type %q", ct)
	}
}
