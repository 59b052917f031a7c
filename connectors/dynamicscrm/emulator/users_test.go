package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSystemUsersByLogin is the query the connector's ResolveUser sends:
// systemusers by domain name or primary e-mail, case-insensitively, with an
// OData string literal's quote doubled.
func TestSystemUsersByLogin(t *testing.T) {
	c := start(t, Options{Seed: 5, Users: 2})
	alice := c.srv.Users()[0]
	sel := "$select=systemuserid,fullname,domainname,internalemailaddress,_businessunitid_value"
	query := func(login string) []any {
		t.Helper()
		lit := "'" + login + "'"
		r := c.do("GET", "systemusers?"+sel+"&$filter="+url.PathEscape("domainname eq "+lit+" or internalemailaddress eq "+lit), nil)
		c.mustStatus(r, http.StatusOK)
		rows, _ := r.json(t)["value"].([]any)
		return rows
	}

	rows := query(alice.DomainName)
	if len(rows) != 1 {
		t.Fatalf("the user's domain name finds %d rows, want 1", len(rows))
	}
	row := rows[0].(map[string]any)
	want := map[string]any{"systemuserid": alice.SystemUserID, "fullname": alice.FullName, "domainname": alice.DomainName,
		"internalemailaddress": alice.Email, "_businessunitid_value": alice.BusinessUnitID}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %v, want %v", k, row[k], v)
		}
	}
	if len(query("ALICE-UNKNOWN@contoso.example")) != 0 {
		t.Error("an unknown login finds rows")
	}
	if n := len(query(strings.ToUpper(alice.Email))); n != 1 {
		t.Errorf("the e-mail in upper case finds %d rows, want 1 (Dataverse compares strings case-insensitively)", n)
	}
	if n := len(query("o''brien@contoso.example")); n != 0 {
		t.Errorf("a login with an escaped quote finds %d rows, want 0", n)
	}
}
