package emulator

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

func TestConcurrentClientsKeepTheStoreConsistent(t *testing.T) {
	c := start(t, Options{Seed: 13, Accounts: 20})
	link := c.do("GET", "accounts?$select=name", nil, "Prefer", "odata.track-changes").json(t)["@odata.deltaLink"].(string)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				id := fmt.Sprintf("%08x-0000-4000-8000-%012x", w, i)
				steps := []struct {
					method, path string
					body         any
					want         int
				}{
					{"POST", "accounts", map[string]any{"accountid": id, "name": fmt.Sprintf("W%d-%d", w, i)}, 204},
					{"PATCH", "accounts(" + id + ")", map[string]any{"telephone1": "555"}, 204},
					{"GET", "accounts?$select=name&$top=5", nil, 200},
					{"DELETE", "accounts(" + id + ")", nil, 204},
				}
				for _, s := range steps {
					r, err := c.try(s.method, s.path, s.body)
					if err == nil && r.status != s.want {
						err = fmt.Errorf("%s %s: %d %s", s.method, s.path, r.status, r.body)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := c.srv.Count("accounts"); got != 20 {
		t.Errorf("accounts %d, want 20", got)
	}
	rows, _ := c.pageAll(link, "Prefer", "odata.maxpagesize=17")
	deleted := 0
	for _, r := range rows {
		if r["reason"] == "deleted" {
			deleted++
		}
	}
	if deleted != 8*15 || len(rows) != deleted {
		t.Errorf("delta has %d rows, %d deletions; want 120 created-then-deleted records as deletions only", len(rows), deleted)
	}
}

func TestDeletingAnAccountCascades(t *testing.T) {
	c := start(t, Options{Seed: 17, Accounts: 10})
	acc := c.srv.IDs("accounts")[0]
	child := c.srv.IDs("accounts")[1]
	c.srv.Upsert("accounts", child, map[string]any{"parentaccountid@odata.bind": "/accounts(" + acc + ")"})
	contacts, _ := c.pageAll("contacts?$select=fullname&$filter=_parentcustomerid_value eq " + acc)
	notes, _ := c.pageAll("annotations?$select=subject&$filter=_objectid_value eq " + acc)
	if len(contacts) != 2 || len(notes) != 1 {
		t.Fatalf("seed: %d contacts, %d notes", len(contacts), len(notes))
	}
	c.mustStatus(c.do("DELETE", "accounts("+acc+")", nil), http.StatusNoContent)
	for _, r := range contacts {
		if _, ok := c.srv.Get("contacts", r["contactid"].(string)); ok {
			t.Error("contact survived its account")
		}
	}
	if _, ok := c.srv.Get("annotations", notes[0]["annotationid"].(string)); ok {
		t.Error("note survived its account")
	}
	if row := mustGet(t, c.srv, "accounts", child); row["_parentaccountid_value"] != nil {
		t.Errorf("child still points to the deleted parent: %v", row["_parentaccountid_value"])
	}
}
