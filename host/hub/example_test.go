package hub_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

// TestTheDynamicsExampleOpensAgainstTheEmulator: configs/example-dynamicscrm.hcl,
// pointed at the Dataverse emulator, passes every check the hub makes at
// start (its entities, fields, filters, partition rules and files rules
// against the connector's schema), and each of its entities pulls.
func TestTheDynamicsExampleOpensAgainstTheEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emu := emulator.New(emulator.Options{Seed: 3, Accounts: 6})
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	src, err := os.ReadFile("../../configs/example-dynamicscrm.hcl")
	if err != nil {
		t.Fatal(err)
	}
	const url = `url           = "https://contoso.crm4.dynamics.com"`
	if !strings.Contains(string(src), url) {
		t.Fatalf("the example no longer has %s", url)
	}
	text := strings.Replace(string(src), url, `url = "`+emu.URL()+`"
    token_url = "`+emu.TokenURL()+`"`, 1)
	t.Setenv("CRM_TENANT_ID", "synchub-tenant")
	t.Setenv("CRM_CLIENT_ID", "synchub-dev")
	t.Setenv("CRM_CLIENT_SECRET", "synchub-dev")
	cfg := loadConfig(t, text)
	h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: storetest.SQLite(t),
		Clients: map[string]sdk.Client{"crm": sdk.InProcess(dynamicscrm.New(), nil)}})
	if err != nil {
		t.Fatalf("the example does not open against the emulator: %v", err)
	}
	defer h.Close()
	for _, entity := range []string{"account", "contact", "product"} {
		res, err := h.Puller().PullEntity(ctx, "crm", entity, true)
		if err != nil {
			t.Errorf("pull %s: %v", entity, err)
			continue
		}
		if res.Changed == 0 {
			t.Errorf("pull %s wrote no records", entity)
		}
	}
}
