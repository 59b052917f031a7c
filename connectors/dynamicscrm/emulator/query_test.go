package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestQuery(t *testing.T) {
	c := start(t, Options{Seed: 11, Accounts: 40})

	t.Run("paging through nextLink returns every row exactly once while rows change", func(t *testing.T) {
		c := c.with(t)
		want := c.srv.IDs("accounts")
		seen := map[string]int{}
		link := "accounts?$select=name"
		for pages := 0; link != ""; pages++ {
			r := c.do("GET", link, nil, "Prefer", "odata.maxpagesize=7")
			c.mustStatus(r, http.StatusOK)
			m := r.json(t)
			for _, v := range m["value"].([]any) {
				seen[v.(map[string]any)["accountid"].(string)]++
			}
			if pages == 1 {
				// edits between pages must not disturb the walk
				c.srv.Upsert("accounts", want[0], map[string]any{"name": "Edited while paging"})
				c.srv.Upsert("accounts", want[len(want)-1], map[string]any{"name": "Edited too"})
			}
			link, _ = m["@odata.nextLink"].(string)
		}
		for _, id := range want {
			if seen[id] != 1 {
				t.Errorf("account %s seen %d times", id, seen[id])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("saw %d rows, want %d", len(seen), len(want))
		}
	})

	t.Run("the default page is capped at the maximum page size", func(t *testing.T) {
		small := start(t, Options{Seed: 2, Accounts: 5, MaxPageSize: 3})
		r := small.do("GET", "accounts?$select=name", nil, "Prefer", "odata.maxpagesize=50")
		small.mustStatus(r, http.StatusOK)
		m := r.json(t)
		if len(m["value"].([]any)) != 3 || m["@odata.nextLink"] == nil || r.header.Get("Preference-Applied") != "odata.maxpagesize=3" {
			t.Errorf("page %v, applied %q", len(m["value"].([]any)), r.header.Get("Preference-Applied"))
		}
	})

	refused := []struct {
		name, path string
		status     int
		code, msg  string
	}{
		{"$skip is refused", "accounts?$skip=10", 400, "0x80060888", "Skip Clause is not supported in CRM"},
		{"an unknown $select column is refused", "accounts?$select=name,bogus", 400, "0x80060888", "Could not find a property named 'bogus' on type 'Microsoft.Dynamics.CRM.account'."},
		{"an unknown $filter column is refused", "accounts?$filter=bogus eq 1", 400, "0x80060888", "Could not find a property named 'bogus' on type 'Microsoft.Dynamics.CRM.account'."},
		{"the in operator is refused", "accounts?$filter=name in ('a','b')", 501, "0x8006088a", "The query node In is not supported"},
		{"a string compared with a number is refused", "accounts?$filter=name eq 5", 400, "0x80060888", "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Int32' for operator kind 'Equal'."},
		{"a lookup compared with a quoted GUID is refused", "accounts?$filter=_ownerid_value eq '00000000-0000-0000-0000-000000000001'", 400, "0x80060888", "Found operand types 'Edm.Guid' and 'Edm.String'"},
		{"an unknown entity set is 404", "widgets", 404, "0x80060888", "Resource not found for the segment 'widgets'."},
		{"a lookup written as a column in $select is refused", "accounts?$select=ownerid", 400, "0x80060888", "Could not find a property named 'ownerid'"},
		{"a missing row is 404", "accounts(00000000-0000-0000-0000-000000000009)", 404, "0x80040217", "account With Id = 00000000-0000-0000-0000-000000000009 Does Not Exist"},
		{"a repeated query option is refused", "accounts?$select=name&$select=name", 400, "0x80060888", "specified more than once"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c := c.with(t)
			r := c.do("GET", tc.path, nil)
			c.mustStatus(r, tc.status)
			code, msg := r.errorOf(t)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("error %s %q", code, msg)
			}
			if r.header.Get("Content-Type") != ctJSON {
				t.Errorf("content type %q", r.header.Get("Content-Type"))
			}
		})
	}

	owner := c.srv.Users()[0].SystemUserID
	ids := c.srv.IDs("accounts")
	c.srv.Upsert("accounts", ids[0], map[string]any{"name": "Zeta Quantum", "telephone1": nil, "revenue": 5000000})
	c.srv.Upsert("accounts", ids[1], map[string]any{"name": "zeta lower", "telephone1": "555-1"})
	count := func(c *client, filter string) int {
		rows, _ := c.pageAll("accounts?$select=name&$filter=" + filter)
		return len(rows)
	}
	total := len(ids)
	owned := 0
	nulls := 0
	for _, id := range ids {
		row := mustGet(t, c.srv, "accounts", id)
		if row["_ownerid_value"] == owner {
			owned++
		}
		if row["telephone1"] == nil {
			nulls++
		}
	}
	filters := []struct {
		name, filter string
		want         int
	}{
		{"eq on strings is case-insensitive", "name eq 'ZETA QUANTUM'", 1},
		{"startswith matches a prefix", "startswith(name,'zeta')", 2},
		{"contains and not combine", "contains(name,'zeta') and not contains(name,'lower')", 1},
		{"a lookup matches an unquoted GUID", "_ownerid_value eq " + owner, owned},
		{"eq null finds missing values", "telephone1 eq null", nulls},
		{"ne skips nulls like SQL", "telephone1 ne '555-1'", total - nulls - 1},
		{"numbers compare", "revenue ge 5000000 and revenue le 5000000", 1},
		{"datetimes compare", "modifiedon gt 2000-01-01T00:00:00Z", total},
		{"parentheses group or", "(name eq 'Zeta Quantum' or name eq 'zeta lower') and statecode eq 0", -1},
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			got := count(c.with(t), tc.filter)
			if tc.want >= 0 && got != tc.want || tc.want < 0 && (got < 1 || got > 2) {
				t.Errorf("%s: %d rows, want %d", tc.filter, got, tc.want)
			}
		})
	}

	t.Run("$orderby pages stay ordered and complete", func(t *testing.T) {
		c := c.with(t)
		rows, _ := c.pageAll("accounts?$select=name,revenue&$orderby=revenue desc,name", "Prefer", "odata.maxpagesize=6")
		if len(rows) != total {
			t.Fatalf("%d rows, want %d", len(rows), total)
		}
		for i := 1; i < len(rows); i++ {
			if rows[i-1]["revenue"].(float64) < rows[i]["revenue"].(float64) {
				t.Fatalf("row %d out of order", i)
			}
		}
	})

	t.Run("$top limits rows without a nextLink and $count counts", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "accounts?$select=name&$top=3&$count=true", nil)
		c.mustStatus(r, http.StatusOK)
		m := r.json(t)
		if len(m["value"].([]any)) != 3 || m["@odata.nextLink"] != nil || m["@odata.count"] != float64(total) {
			t.Errorf("top/count %v %v", len(m["value"].([]any)), m["@odata.count"])
		}
	})

	t.Run("a single row honours If-None-Match with 304", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "accounts("+ids[2]+")?$select=name", nil)
		c.mustStatus(r, http.StatusOK)
		m := r.json(t)
		if !strings.HasSuffix(m["@odata.context"].(string), "$metadata#accounts(name)/$entity") {
			t.Errorf("context %v", m["@odata.context"])
		}
		etag := m["@odata.etag"].(string)
		c.mustStatus(c.do("GET", "accounts("+ids[2]+")?$select=name", nil, "If-None-Match", etag), http.StatusNotModified)
		c.srv.Upsert("accounts", ids[2], map[string]any{"name": "changed"})
		c.mustStatus(c.do("GET", "accounts("+ids[2]+")?$select=name", nil, "If-None-Match", etag), http.StatusOK)
	})

	t.Run("annotations add formatted values and lookup logical names", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "accounts("+ids[0]+")?$select=name,revenue,_ownerid_value,statecode", nil, "Prefer", `odata.include-annotations="*"`)
		c.mustStatus(r, http.StatusOK)
		m := r.json(t)
		want := map[string]any{
			"revenue@OData.Community.Display.V1.FormattedValue":                  "$5,000,000.00",
			"statecode@OData.Community.Display.V1.FormattedValue":                "Active",
			"_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname":            "systemuser",
			"_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "ownerid",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		if m["_ownerid_value@OData.Community.Display.V1.FormattedValue"] == nil {
			t.Error("owner name missing")
		}
		// annotations precede their property on the wire
		body := string(r.body)
		if strings.Index(body, `"_ownerid_value@`) > strings.Index(body, `"_ownerid_value":`) {
			t.Error("annotation after property")
		}
	})

	t.Run("every row carries a weak etag from the global row version", func(t *testing.T) {
		c := c.with(t)
		rows, _ := c.pageAll("contacts?$select=fullname,_parentcustomerid_value")
		var versions []string
		for _, r := range rows {
			e := r["@odata.etag"].(string)
			if !strings.HasPrefix(e, `W/"`) {
				t.Fatalf("etag %q", e)
			}
			versions = append(versions, e)
			if r["_parentcustomerid_value"] == nil {
				t.Errorf("seeded contact without account: %v", r)
			}
		}
		slices.Sort(versions)
		if len(slices.Compact(versions)) != len(rows) {
			t.Error("row versions are not unique")
		}
	})

	t.Run("seeded data is deterministic", func(t *testing.T) {
		a, b := New(Options{Seed: 99, Accounts: 5}), New(Options{Seed: 99, Accounts: 5})
		if fmt.Sprint(a.IDs("accounts")) != fmt.Sprint(b.IDs("accounts")) {
			t.Fatal("ids differ")
		}
		id := a.IDs("annotations")[0]
		ra, rb := mustGet(t, a, "annotations", id), mustGet(t, b, "annotations", id)
		if fmt.Sprint(ra) != fmt.Sprint(rb) || ra["isdocument"] != true || ra["filesize"].(int64) <= 0 {
			t.Errorf("annotation %v", ra)
		}
	})
}
