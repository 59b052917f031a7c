package emulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestServiceProtection(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := start(t, Options{Seed: 1, RequestBudget: 3, BudgetWindow: time.Minute, Now: clock.Now})
	for range 3 {
		c.mustStatus(c.do("GET", "WhoAmI", nil), http.StatusOK)
	}
	r := c.do("GET", "WhoAmI", nil)
	c.mustStatus(r, http.StatusTooManyRequests)
	if code, msg := r.errorOf(t); code != "0x80072322" || msg != "Number of requests exceeded the limit of 3 over time window of 60 seconds." {
		t.Errorf("429 body %s %q", code, msg)
	}
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	clock.Add(61 * time.Second)
	c.mustStatus(c.do("GET", "WhoAmI", nil), http.StatusOK)
}

func TestFaults(t *testing.T) {
	c := start(t, Options{Seed: 4})

	t.Run("AfterApply stores the write and then loses the answer", func(t *testing.T) {
		c := c.with(t)
		id := "5c1f2a51-0c4b-4f7e-9a61-2b3c4d5e6f72"
		c.srv.InjectFault(Fault{Path: "accounts", Method: "POST", AfterApply: true})
		_, err := c.try("POST", "accounts", map[string]any{"accountid": id, "name": "Lost answer"})
		if err == nil {
			t.Fatal("expected the connection to be closed without an answer")
		}
		if _, ok := c.srv.Get("accounts", id); !ok {
			t.Fatal("the write was not applied before the failure")
		}
		// the connector probes and finds the record instead of creating it twice
		c.mustStatus(c.do("GET", "accounts("+id+")?$select=name", nil), http.StatusOK)
		c.mustStatus(c.do("POST", "accounts", map[string]any{"accountid": id, "name": "Lost answer"}), http.StatusPreconditionFailed)
	})

	t.Run("AfterApply with a status applies the write and answers 500", func(t *testing.T) {
		c := c.with(t)
		acc := c.srv.IDs("accounts")[0]
		c.srv.InjectFault(Fault{Path: "accounts(" + acc, Method: "PATCH", AfterApply: true, Status: 500})
		r := c.do("PATCH", "accounts("+acc+")", map[string]any{"name": "Applied anyway"})
		c.mustStatus(r, http.StatusInternalServerError)
		if mustGet(t, c.srv, "accounts", acc)["name"] != "Applied anyway" {
			t.Error("write not applied")
		}
	})

	t.Run("a plain fault fails without applying and expires after Times", func(t *testing.T) {
		c := c.with(t)
		c.srv.InjectFault(Fault{Path: "contacts", Status: 503, Times: 2})
		before := c.srv.Count("contacts")
		c.mustStatus(c.do("POST", "contacts", map[string]any{"lastname": "x"}), http.StatusServiceUnavailable)
		c.mustStatus(c.do("GET", "contacts?$top=1", nil), http.StatusServiceUnavailable)
		c.mustStatus(c.do("GET", "contacts?$top=1", nil), http.StatusOK)
		if c.srv.Count("contacts") != before {
			t.Error("a failed request changed data")
		}
	})

	t.Run("Garbage answers an HTML page", func(t *testing.T) {
		c := c.with(t)
		c.srv.InjectFault(Fault{Path: "opportunities", Garbage: true, Status: 502})
		r := c.do("GET", "opportunities", nil)
		c.mustStatus(r, http.StatusBadGateway)
		if json.Valid(r.body) || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("body %s", r.body)
		}
	})
}

func TestMetadata(t *testing.T) {
	c := start(t, Options{Seed: 8})

	t.Run("an entity definition expands its attributes", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "EntityDefinitions(LogicalName='contact')?$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled,IsOptimisticConcurrencyEnabled&$expand=Attributes($select=LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate,IsPrimaryId,AttributeOf)", nil)
		c.mustStatus(r, http.StatusOK)
		m := r.json(t)
		if m["EntitySetName"] != "contacts" || m["PrimaryIdAttribute"] != "contactid" || m["PrimaryNameAttribute"] != "fullname" ||
			m["ChangeTrackingEnabled"] != true || m["IsOptimisticConcurrencyEnabled"] != true || m["MetadataId"] == nil {
			t.Errorf("entity %v", m)
		}
		if !strings.HasSuffix(m["@odata.context"].(string), "/$entity") {
			t.Errorf("context %v", m["@odata.context"])
		}
		types := map[string]string{}
		for _, a := range m["Attributes"].([]any) {
			at := a.(map[string]any)
			types[at["LogicalName"].(string)] = at["AttributeType"].(string)
			if at["LogicalName"] == "contactid" && at["IsPrimaryId"] != true {
				t.Error("contactid is not the primary id")
			}
			if at["LogicalName"] == "fullname" && at["IsValidForCreate"] != false {
				t.Error("fullname must be read-only")
			}
		}
		want := map[string]string{"contactid": "Uniqueidentifier", "lastname": "String", "parentcustomerid": "Customer",
			"ownerid": "Owner", "modifiedon": "DateTime", "statecode": "State", "versionnumber": "BigInt", "owneridname": "String"}
		for k, v := range want {
			if types[k] != v {
				t.Errorf("%s is %q, want %q", k, types[k], v)
			}
		}
	})

	t.Run("lookup targets come from the cast attribute collection", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "EntityDefinitions(LogicalName='annotation')/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=LogicalName,Targets", nil)
		c.mustStatus(r, http.StatusOK)
		found := false
		for _, a := range r.json(t)["value"].([]any) {
			at := a.(map[string]any)
			if at["LogicalName"] == "objectid" {
				found = len(at["Targets"].([]any)) == 3
			}
		}
		if !found {
			t.Errorf("objectid targets missing: %s", r.body)
		}
		r = c.do("GET", "EntityDefinitions(LogicalName='annotation')?$expand=Attributes($select=LogicalName,Targets)", nil)
		c.mustStatus(r, http.StatusBadRequest)
	})

	t.Run("EntityDefinitions filters on change tracking", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "EntityDefinitions?$select=LogicalName,EntitySetName&$filter=ChangeTrackingEnabled eq true", nil)
		c.mustStatus(r, http.StatusOK)
		if n := len(r.json(t)["value"].([]any)); n != 7 {
			t.Errorf("%d entities", n)
		}
		c.mustStatus(c.do("GET", "EntityDefinitions(LogicalName='widget')", nil), http.StatusNotFound)
	})
}

func TestAdminAndBulk(t *testing.T) {
	c := start(t, Options{Seed: 9, Accounts: 3})
	c.srv.AddRecords("accounts", 2000)
	c.srv.AddRecords("annotations", 10)
	if c.srv.Count("accounts") != 2003 || c.srv.Count("annotations") != 13 {
		t.Fatalf("counts %d %d", c.srv.Count("accounts"), c.srv.Count("annotations"))
	}
	rows, _ := c.pageAll("accounts?$select=name", "Prefer", "odata.maxpagesize=500")
	if len(rows) != 2003 {
		t.Errorf("paged %d rows", len(rows))
	}
	id := c.srv.IDs("accounts")[0]
	owner := c.srv.Users()[2].SystemUserID
	req, _ := http.NewRequest("PATCH", c.base+"/_emulator/accounts/"+id, strings.NewReader(`{"_ownerid_value":"`+owner+`","numberofemployees":12}`))
	r := read(t, mustDo(t, req))
	if r.status != http.StatusOK || r.json(t)["_ownerid_value"] != owner {
		t.Errorf("admin patch %d %s", r.status, r.body)
	}
	r = read(t, mustDo(t, mustReq(t, "GET", c.base+"/_emulator/stats")))
	if r.status != http.StatusOK || r.json(t)["entities"].(map[string]any)["accounts"] != float64(2003) {
		t.Errorf("stats %s", r.body)
	}
	r = read(t, mustDo(t, mustReq(t, "DELETE", c.base+"/_emulator/accounts/"+id)))
	if r.status != http.StatusNoContent || c.srv.Count("accounts") != 2002 {
		t.Errorf("admin delete %d", r.status)
	}
}

func mustReq(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func mustDo(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
