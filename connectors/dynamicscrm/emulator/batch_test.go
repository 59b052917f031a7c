package emulator

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// op renders one application/http batch part (CRLF line ends).
func op(method, target, body, contentID string) string {
	var b strings.Builder
	b.WriteString("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
	if contentID != "" {
		b.WriteString("Content-ID: " + contentID + "\r\n")
	}
	b.WriteString("\r\n" + method + " " + target + " HTTP/1.1\r\n")
	if body != "" {
		b.WriteString("Content-Type: application/json; type=entry\r\n\r\n" + body + "\r\n")
	} else {
		b.WriteString("\r\n")
	}
	return b.String()
}

func changeset(name string, ops ...string) string {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=\"changeset_" + name + "\"\r\n\r\n")
	for _, o := range ops {
		b.WriteString("--changeset_" + name + "\r\n" + o)
	}
	b.WriteString("--changeset_" + name + "--\r\n")
	return b.String()
}

func (c *client) batch(parts []string, headers ...string) reply {
	c.t.Helper()
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--batch_AAA123\r\n" + p)
	}
	b.WriteString("--batch_AAA123--\r\n")
	h := append([]string{"Content-Type", `multipart/mixed; boundary="batch_AAA123"`}, headers...)
	return c.do("POST", "$batch", []byte(b.String()), h...)
}

func boundaryOf(t *testing.T, r reply) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "batchresponse_") {
		t.Fatalf("batch content type %q", r.header.Get("Content-Type"))
	}
	return params["boundary"]
}

func TestBatch(t *testing.T) {
	c := start(t, Options{Seed: 7})
	acc := c.srv.IDs("accounts")[0]

	t.Run("a change set with one bad operation applies none of them", func(t *testing.T) {
		c := c.with(t)
		before := c.srv.Count("contacts")
		etag := mustGet(t, c.srv, "accounts", acc)["@odata.etag"]
		r := c.batch([]string{changeset("x",
			op("POST", "contacts", `{"lastname":"Atomic","parentcustomerid_account@odata.bind":"/accounts(`+acc+`)"}`, "1"),
			op("PATCH", "accounts("+acc+")", `{"name":"Renamed in change set"}`, "2"),
			op("POST", "contacts", `{"lastname":"Bad","numberofemployees":3}`, "3"),
		)})
		c.mustStatus(r, http.StatusBadRequest)
		if got := c.srv.Count("contacts"); got != before {
			t.Errorf("contacts %d, want %d (rolled back)", got, before)
		}
		if row := mustGet(t, c.srv, "accounts", acc); row["@odata.etag"] != etag || row["name"] == "Renamed in change set" {
			t.Errorf("account changed by a failed change set: %v", row)
		}
		shape := batchShape(t, r.body, boundaryOf(t, r))
		if len(shape) != 1 || shape[0].status != http.StatusBadRequest || shape[0].changeset != nil {
			t.Errorf("a failed change set must be answered by one error part: %v", shape)
		}
	})

	t.Run("without continue-on-error the first failure stops the batch", func(t *testing.T) {
		c := c.with(t)
		before := c.srv.Count("contacts")
		r := c.batch([]string{
			op("POST", "contacts", `{"lastname":"First"}`, ""),
			op("POST", "contacts", `{"lastname":"`+strings.Repeat("y", 51)+`"}`, ""),
			op("POST", "contacts", `{"lastname":"Never"}`, ""),
		})
		c.mustStatus(r, http.StatusBadRequest)
		if got := c.srv.Count("contacts"); got != before+1 {
			t.Errorf("contacts %d, want %d", got, before+1)
		}
		if shape := batchShape(t, r.body, boundaryOf(t, r)); len(shape) != 2 || shape[1].status != 400 {
			t.Errorf("shape %v", shape)
		}
	})

	t.Run("continue-on-error runs every part and reports each result", func(t *testing.T) {
		c := c.with(t)
		before := c.srv.Count("contacts")
		r := c.batch([]string{
			op("POST", "contacts", `{"lastname":"`+strings.Repeat("y", 51)+`"}`, ""),
			op("POST", "contacts", `{"lastname":"Two"}`, ""),
			changeset("ok", op("POST", "contacts", `{"lastname":"Three"}`, "1")),
		}, "Prefer", "odata.continue-on-error")
		c.mustStatus(r, http.StatusOK)
		if r.header.Get("Preference-Applied") != "odata.continue-on-error" {
			t.Errorf("Preference-Applied %q", r.header.Get("Preference-Applied"))
		}
		if got := c.srv.Count("contacts"); got != before+2 {
			t.Errorf("contacts %d, want %d", got, before+2)
		}
		shape := batchShape(t, r.body, boundaryOf(t, r))
		if len(shape) != 3 || shape[0].status != 400 || shape[1].status != 204 || len(shape[2].changeset) != 1 {
			t.Errorf("shape %v", shape)
		}
	})

	t.Run("Content-ID references bind records created earlier in the change set", func(t *testing.T) {
		c := c.with(t)
		r := c.batch([]string{changeset("ref",
			op("POST", "accounts", `{"name":"Parent from batch"}`, "1"),
			op("POST", "contacts", `{"lastname":"Child","parentcustomerid_account@odata.bind":"$1"}`, "2"),
			op("PATCH", "$1", `{"primarycontactid@odata.bind":"$2"}`, "3"),
		)})
		c.mustStatus(r, http.StatusOK)
		rows, _ := c.pageAll("contacts?$filter=lastname eq 'Child'&$select=_parentcustomerid_value")
		if len(rows) != 1 {
			t.Fatalf("contacts %v", rows)
		}
		parent := rows[0]["_parentcustomerid_value"].(string)
		a := mustGet(t, c.srv, "accounts", parent)
		if a["name"] != "Parent from batch" || a["_primarycontactid_value"] != rows[0]["contactid"] {
			t.Errorf("account %v", a)
		}
	})

	refusals := []struct {
		name  string
		parts []string
		want  string
	}{
		{"a GET inside a change set is refused", []string{changeset("g", op("GET", "accounts", "", "1"))}, "An invalid HTTP method 'GET'"},
		{"more than 1000 operations are refused", manyOps(1001), "maximum number of '1000'"},
		{"an unknown Content-ID reference is refused", []string{changeset("u", op("POST", "contacts", `{"lastname":"x","parentcustomerid_account@odata.bind":"$9"}`, "1"))}, "Content-ID Reference: '$9' does not exist"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			c := c.with(t)
			r := c.batch(tc.parts)
			c.mustStatus(r, http.StatusBadRequest)
			if !strings.Contains(string(r.body), tc.want) {
				t.Errorf("body %s lacks %q", r.body, tc.want)
			}
		})
	}

	t.Run("each operation counts against the request budget", func(t *testing.T) {
		tc := start(t, Options{Seed: 7, RequestBudget: 5})
		r := tc.batch(manyOps(6))
		tc.mustStatus(r, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
}

func manyOps(n int) []string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = op("POST", "contacts", fmt.Sprintf(`{"lastname":"Bulk %d"}`, i), "")
	}
	return parts
}

func mustGet(t *testing.T, s *Server, set, id string) map[string]any {
	t.Helper()
	row, ok := s.Get(set, id)
	if !ok {
		t.Fatalf("%s(%s) missing", set, id)
	}
	return row
}
