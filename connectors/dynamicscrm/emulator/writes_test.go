package emulator

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestWrites(t *testing.T) {
	c := start(t, Options{Seed: 21})
	acc := c.srv.IDs("accounts")[0]
	owner := c.srv.Users()[1].SystemUserID

	t.Run("POST with a client GUID creates, a second POST is a duplicate", func(t *testing.T) {
		c := c.with(t)
		id := "6d9e2a51-0c4b-4f7e-9a61-2b3c4d5e6f70"
		body := map[string]any{"accountid": id, "name": "Client keyed", "ownerid@odata.bind": "/systemusers(" + owner + ")"}
		r := c.do("POST", "accounts", body)
		c.mustStatus(r, http.StatusNoContent)
		if got := r.header.Get("OData-EntityId"); got != c.srv.APIURL()+"/accounts("+id+")" {
			t.Errorf("OData-EntityId %q", got)
		}
		row := mustGet(t, c.srv, "accounts", id)
		if row["_ownerid_value"] != owner || row["_owningbusinessunit_value"] == nil || row["statecode"] != int64(0) {
			t.Errorf("row %v", row)
		}
		r = c.do("POST", "accounts", body)
		c.mustStatus(r, http.StatusPreconditionFailed)
		if code, msg := r.errorOf(t); code != "0x80040237" || msg != "A record with matching key values already exists." {
			t.Errorf("duplicate %s %q", code, msg)
		}
	})

	t.Run("return=representation answers 201 with the row", func(t *testing.T) {
		c := c.with(t)
		r := c.do("POST", "contacts?$select=fullname,_parentcustomerid_value", map[string]any{
			"firstname": "Ada", "lastname": "Lovelace", "parentcustomerid_account@odata.bind": "/accounts(" + acc + ")",
		}, "Prefer", "return=representation")
		c.mustStatus(r, http.StatusCreated)
		m := r.json(t)
		if m["fullname"] != "Ada Lovelace" || m["_parentcustomerid_value"] != acc || !strings.HasSuffix(m["@odata.context"].(string), "#contacts(fullname,_parentcustomerid_value)/$entity") {
			t.Errorf("representation %v", m)
		}
	})

	t.Run("PATCH is an upsert that honours If-Match and If-None-Match", func(t *testing.T) {
		c := c.with(t)
		id := "7d9e2a51-0c4b-4f7e-9a61-2b3c4d5e6f71"
		c.mustStatus(c.do("PATCH", "accounts("+id+")", map[string]any{"name": "Upserted"}, "If-Match", "*"), http.StatusNotFound)
		c.mustStatus(c.do("PATCH", "accounts("+id+")", map[string]any{"name": "Upserted"}), http.StatusNoContent)
		etag := mustGet(t, c.srv, "accounts", id)["@odata.etag"].(string)
		c.mustStatus(c.do("PATCH", "accounts("+id+")", map[string]any{"name": "Again"}, "If-None-Match", "*"), http.StatusPreconditionFailed)
		c.mustStatus(c.do("PATCH", "accounts("+id+")", map[string]any{"name": "Matched"}, "If-Match", etag), http.StatusNoContent)
		r := c.do("PATCH", "accounts("+id+")", map[string]any{"name": "Stale"}, "If-Match", etag)
		c.mustStatus(r, http.StatusPreconditionFailed)
		if code, msg := r.errorOf(t); code != "0x80060882" || msg != "The version of the existing record doesn't match the RowVersion property provided." {
			t.Errorf("stale %s %q", code, msg)
		}
		if mustGet(t, c.srv, "accounts", id)["name"] != "Matched" {
			t.Error("a stale write was applied")
		}
		r = c.do("PATCH", "accounts("+id+")", map[string]any{"name": "Rep"}, "Prefer", "return=representation")
		c.mustStatus(r, http.StatusOK)
	})

	t.Run("DELETE honours If-Match and answers 404 when gone", func(t *testing.T) {
		c := c.with(t)
		id := c.srv.IDs("opportunities")[0]
		c.mustStatus(c.do("DELETE", "opportunities("+id+")", nil, "If-Match", `W/"1"`), http.StatusPreconditionFailed)
		c.mustStatus(c.do("DELETE", "opportunities("+id+")", nil), http.StatusNoContent)
		r := c.do("DELETE", "opportunities("+id+")", nil)
		c.mustStatus(r, http.StatusNotFound)
		if code, _ := r.errorOf(t); code != "0x80040217" {
			t.Errorf("code %s", code)
		}
	})

	t.Run("an annotation with an attachment gets filesize and isdocument", func(t *testing.T) {
		c := c.with(t)
		doc := []byte("%PDF-1.4 hello")
		r := c.do("POST", "annotations?$select=filesize,isdocument,objecttypecode,_objectid_value", map[string]any{
			"subject": "Contract", "filename": "c.pdf", "mimetype": "application/pdf",
			"documentbody": base64.StdEncoding.EncodeToString(doc), "objectid_account@odata.bind": "/accounts(" + acc + ")",
		}, "Prefer", "return=representation")
		c.mustStatus(r, http.StatusCreated)
		m := r.json(t)
		if m["filesize"] != float64(len(doc)) || m["isdocument"] != true || m["objecttypecode"] != "account" || m["_objectid_value"] != acc {
			t.Errorf("note %v", m)
		}
	})

	bad := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		code   string
		msg    string
	}{
		{"an unknown attribute is refused", "POST", "accounts", `{"name":"x","citty":"Lyon"}`, 400, "0x80048d19", "The property 'citty' does not exist on type 'Microsoft.Dynamics.CRM.account'."},
		{"a name over 160 characters is a validation error", "POST", "accounts", `{"name":"` + strings.Repeat("n", 161) + `"}`, 400, "0x80044331", "The length of the 'name' attribute of the 'account' entity exceeded the maximum allowed length of '160'."},
		{"a string for an integer is refused", "POST", "accounts", `{"name":"x","numberofemployees":"many"}`, 400, "0x80048d19", "Cannot convert the literal 'many' to the expected type 'Edm.Int32'."},
		{"a number for a string is refused", "POST", "accounts", `{"name":7}`, 400, "0x80048d19", "Edm.String"},
		{"an option value outside the set is refused", "POST", "accounts", `{"name":"x","statecode":7}`, 400, "0x8004431a", "Accepted Values: 0,1"},
		{"writing a lookup column directly is refused", "POST", "accounts", `{"name":"x","_ownerid_value":"` + "00000000-0000-0000-0000-000000000001" + `"}`, 400, "0x80060888", "CRM do not support direct update of Entity Reference properties, Use Navigation properties instead."},
		{"a bind to a missing record is 404", "POST", "contacts", `{"lastname":"x","parentcustomerid_account@odata.bind":"/accounts(00000000-0000-0000-0000-000000000001)"}`, 404, "0x80040217", "account With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist"},
		{"a bind to the wrong entity set is refused", "POST", "contacts", `{"lastname":"x","parentcustomerid_account@odata.bind":"/contacts(00000000-0000-0000-0000-000000000001)"}`, 400, "0x80048d19", "cannot be bound"},
		{"an unknown navigation property is refused", "POST", "contacts", `{"lastname":"x","parentcustomerid@odata.bind":"/accounts(00000000-0000-0000-0000-000000000001)"}`, 400, "0x80048d19", "An undeclared property 'parentcustomerid'"},
		{"malformed JSON is refused", "POST", "accounts", `{"name":`, 400, "0x80048d19", "Invalid JSON"},
		{"PATCH on a collection is not allowed", "PATCH", "accounts", `{"name":"x"}`, 405, "0x80060888", "does not support http method 'PATCH'"},
		{"invalid base64 in a note is refused", "POST", "annotations", `{"documentbody":"***"}`, 400, "0x80044331", "base64"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c := c.with(t)
			r := c.do(tc.method, tc.path, tc.body)
			c.mustStatus(r, tc.status)
			code, msg := r.errorOf(t)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("error %s %q", code, msg)
			}
		})
	}

	t.Run("error details annotations are added on request", func(t *testing.T) {
		c := c.with(t)
		r := c.do("POST", "accounts", `{"name":"`+strings.Repeat("n", 161)+`"}`, "Prefer", `odata.include-annotations="*"`)
		e := r.json(t)["error"].(map[string]any)
		for _, k := range []string{"@Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus", "@Microsoft.PowerApps.CDS.HelpLink", "@Microsoft.PowerApps.CDS.InnerError.Message"} {
			if e[k] == nil {
				t.Errorf("missing %s in %v", k, e)
			}
		}
	})

	t.Run("bodies over the cap get 413", func(t *testing.T) {
		c := c.with(t)
		c.srv.bodyCap = 1 << 16 // the real cap is 128 MiB; a small one keeps the test fast
		defer func() { c.srv.bodyCap = maxBody }()
		r := c.do("POST", "accounts", `{"name":"x","description":"`+strings.Repeat("d", 1<<16)+`"}`)
		c.mustStatus(r, http.StatusRequestEntityTooLarge)
	})
}
