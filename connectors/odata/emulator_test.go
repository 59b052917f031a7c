package odata_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk/httpx"
)

// TestAChangeSetAgainstTheDataverseEmulator sends a real change set: a
// create, and a second create that binds to the first through its `$n`
// reference; then a change set that fails and rolls back.
func TestAChangeSetAgainstTheDataverseEmulator(t *testing.T) {
	emu := emulator.New(emulator.Options{Seed: 1, Accounts: 1, ContactsPerAccount: -1, NotesPerAccount: -1})
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	ts := httpx.ClientCredentials(context.Background(), emu.TokenURL(), "synchub-dev", "synchub-dev", []string{emu.URL() + "/.default"}, nil)
	c := httpx.New(httpx.Options{BaseURL: emu.URL(), TokenSource: ts})
	ctx := context.Background()
	path := "/api/data/v9.2/"

	var b odata.Batch
	account := uuid.NewString()
	first := b.AddChangeSet(
		odata.BatchRequest{Method: http.MethodPost, URL: path + "accounts", Body: []byte(`{"accountid":"` + account + `","name":"Batch parent"}`)},
		odata.BatchRequest{Method: http.MethodPost, URL: path + "contacts", Header: http.Header{"Prefer": {"return=representation"}},
			Body: []byte(`{"lastname":"Batch child","parentcustomerid_account@odata.bind":"` + "$1" + `"}`)})
	if b.Ref(first) != "$1" {
		t.Fatalf("the first request's reference is %q", b.Ref(first))
	}
	res, err := odata.DoBatch(ctx, c, emu.APIURL()+"/$batch", &b, odata.Prefer{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != http.StatusNoContent || !strings.Contains(res[0].Header.Get("OData-EntityId"), account) {
		t.Fatalf("the create answered %d %v", res[0].Status, res[0].Header)
	}
	var contact map[string]any
	if res[1].Status != http.StatusCreated || json.Unmarshal(res[1].Body, &contact) != nil || contact["_parentcustomerid_value"] != account {
		t.Fatalf("the bound create answered %d %s", res[1].Status, res[1].Body)
	}

	var fail odata.Batch
	fail.AddChangeSet(
		odata.BatchRequest{Method: http.MethodPost, URL: path + "accounts", Body: []byte(`{"name":"Rolled back"}`)},
		odata.BatchRequest{Method: http.MethodPatch, URL: path + "accounts(" + uuid.NewString() + ")", Header: http.Header{"If-Match": {"*"}}, Body: []byte(`{"name":"x"}`)})
	before := emu.Count("accounts")
	res, err = odata.DoBatch(ctx, c, emu.APIURL()+"/$batch", &fail, odata.Prefer{ContinueOnError: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status < 400 {
			t.Errorf("request %d of the failed change set answered %d", i, r.Status)
		}
	}
	if e := odata.ParseError(res[1].Status, res[1].Body); res[1].Status != http.StatusNotFound || e.Code != "0x80040217" {
		t.Errorf("the failing update answered %d %+v", res[1].Status, e)
	}
	if n := emu.Count("accounts"); n != before {
		t.Errorf("the failed change set left %d new accounts", n-before)
	}
}
