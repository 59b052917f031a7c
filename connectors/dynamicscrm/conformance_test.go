package dynamicscrm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest"
)

// sets maps the suite's tables (logical names) to the emulator's entity sets.
var sets = map[string]string{"account": "accounts", "contact": "contacts", "opportunity": "opportunities", "annotation": "annotations"}

// backend makes server-side changes through the emulator's hooks, as the
// CRM's own users would.
type backend struct{ emu *emulator.Server }

func (b backend) Put(entity string, fields map[string]any) (string, error) {
	id := uuid.NewString()
	if b.emu.Upsert(sets[entity], id, webFields(fields)) == "" {
		return "", fmt.Errorf("the emulator refused a new %s %v", entity, fields)
	}
	return id, nil
}

func (b backend) Update(entity, id string, fields map[string]any) error {
	if b.emu.Upsert(sets[entity], id, webFields(fields)) == "" {
		return fmt.Errorf("the emulator refused an update of %s %s", entity, id)
	}
	return nil
}

func (b backend) Delete(entity, id string) error {
	if !b.emu.Delete(sets[entity], id) {
		return fmt.Errorf("no %s %s", entity, id)
	}
	return nil
}

// webFields turns record lookups ({"entity", "id"}) into the Web API's
// `_x_value` columns.
func webFields(fields map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range fields {
		if ref, ok := v.(map[string]any); ok {
			out["_"+k+"_value"] = ref["id"]
			continue
		}
		out[k] = v
	}
	return out
}

// startEmulator serves an emulator for the test and returns the
// connector config pointing at it (through the given base URL, if any).
func startEmulator(t testing.TB, opts emulator.Options) (*emulator.Server, json.RawMessage) {
	t.Helper()
	emu := emulator.New(opts)
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	return emu, configFor(emu, emu.URL(), "synchub-dev")
}

func configFor(emu *emulator.Server, base, secret string) json.RawMessage {
	cfg, _ := json.Marshal(map[string]any{"url": base, "token_url": emu.TokenURL(), "tenant_id": "synchub-tenant",
		"client_id": "synchub-dev", "client_secret": secret, "page_size": 1000,
		"scope": emu.URL() + "/.default"}) // the emulator's own, also when it is reached through a proxy
	return cfg
}

// proxy serves the emulator through a reverse proxy whose answers rewrite
// may change, and returns the connector config pointing at the proxy. The
// emulator builds its links from the Host the proxy passes on, so they
// point at the proxy.
func proxy(t *testing.T, emu *emulator.Server, rewrite func(r *http.Response) error) json.RawMessage {
	t.Helper()
	target, _ := url.Parse(emu.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = rewrite
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return configFor(emu, srv.URL, "synchub-dev")
}

func configured(t *testing.T, cfg json.RawMessage) *dynamicscrm.Connector {
	t.Helper()
	c := dynamicscrm.New()
	if err := c.Configure(context.Background(), sdk.ConfigureRequest{Source: "crm", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 3, Accounts: 15, ContactsPerAccount: 1, NotesPerAccount: -1})
	owner := map[string]any{"entity": "systemuser", "id": emu.Users()[0].SystemUserID}
	sdktest.Run(t, sdktest.Config{
		New:        func(*testing.T) sdk.Connector { return dynamicscrm.New() },
		ConfigJSON: cfg,
		Backend:    backend{emu},
		PageSize:   4,
		User: sdktest.UserConfig{Login: emu.Users()[0].DomainName, ID: emu.Users()[0].SystemUserID,
			Attributes: map[string]string{"business_unit": emu.Users()[0].BusinessUnitID}},
		Entities: []sdktest.EntityConfig{
			{
				Name: "account", Fields: []string{"name", "telephone1", "address1_city", "revenue", "ownerid"},
				Filter: "contains(name, 'a') and ownerid ne null", Writable: true,
				NewRecord: func(i int) map[string]any {
					return map[string]any{"name": fmt.Sprintf("Conformance account %d", i), "telephone1": "555-0100", "ownerid": owner}
				},
				Update: func(r sdk.Record) map[string]any {
					return map[string]any{"telephone1": fmt.Sprintf("555-%04d", len(r.ID))}
				},
			},
			{
				Name: "contact", Fields: []string{"firstname", "lastname", "emailaddress1", "parentcustomerid"},
				Filter: "startswith(lastname, 'C') or parentcustomerid eq null", Writable: true,
				NewRecord: func(i int) map[string]any {
					// A parent of its own: the suite deletes records it finds.
					account := uuid.NewString()
					emu.Upsert("accounts", account, map[string]any{"name": fmt.Sprintf("Parent %d", i)})
					return map[string]any{"firstname": "Conf", "lastname": fmt.Sprintf("Contact %d", i),
						"parentcustomerid": map[string]any{"entity": "account", "id": account}}
				},
				Update: func(r sdk.Record) map[string]any { return map[string]any{"emailaddress1": "edited@example.com"} },
			},
		},
	})
}
