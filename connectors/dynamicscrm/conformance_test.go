package dynamicscrm_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest"
)

// sets maps the suite's entities (logical names) to the emulator's sets.
var sets = map[string]string{"account": "accounts", "contact": "contacts"}

// backend edits the emulator the suite's connector talks to.
type backend struct{ emu *emulator.Server }

func (b backend) Put(entity string, fields map[string]any) (string, error) {
	id := uuid.NewString()
	if b.emu.Upsert(sets[entity], id, webFields(fields)) == "" {
		return "", fmt.Errorf("emulator refused a new %s", entity)
	}
	return id, nil
}

func (b backend) Update(entity, id string, fields map[string]any) error {
	if b.emu.Upsert(sets[entity], id, webFields(fields)) == "" {
		return fmt.Errorf("emulator refused an update of %s %s", entity, id)
	}
	return nil
}

func (b backend) Delete(entity, id string) error {
	if !b.emu.Delete(sets[entity], id) {
		return fmt.Errorf("no %s %s", entity, id)
	}
	return nil
}

// webFields turns record lookups into the emulator's `_x_value` columns.
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

func startEmulator(t *testing.T, opts emulator.Options) (*emulator.Server, json.RawMessage) {
	t.Helper()
	emu := emulator.New(opts)
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	cfg, _ := json.Marshal(map[string]any{"url": emu.URL(), "token_url": emu.TokenURL(), "tenant_id": "synchub-tenant",
		"client_id": "synchub-dev", "client_secret": "synchub-dev"})
	return emu, cfg
}

func TestConformance(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 3, Accounts: 15, ContactsPerAccount: 1, NotesPerAccount: -1})
	owner := map[string]any{"entity": "systemuser", "id": emu.Users()[0].SystemUserID}
	sdktest.Run(t, sdktest.Config{
		New:        func(*testing.T) sdk.Connector { return dynamicscrm.New() },
		ConfigJSON: cfg,
		Backend:    backend{emu},
		PageSize:   4,
		Entities: []sdktest.EntityConfig{
			{
				Name: "account", Fields: []string{"name", "telephone1", "address1_city", "ownerid"},
				Filter: "contains(name, 'a')", Writable: true,
				NewRecord: func(i int) map[string]any {
					return map[string]any{"name": fmt.Sprintf("Conformance account %d", i), "telephone1": "555-0100", "ownerid": owner}
				},
				Update: func(r sdk.Record) map[string]any {
					return map[string]any{"telephone1": fmt.Sprintf("555-%04d", len(r.ID))}
				},
			},
			{
				Name: "contact", Fields: []string{"firstname", "lastname", "emailaddress1", "parentcustomerid"},
				Writable: true,
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
