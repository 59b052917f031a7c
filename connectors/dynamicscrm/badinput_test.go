package dynamicscrm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/sdk"
)

func configured(t *testing.T, cfg json.RawMessage) *dynamicscrm.Connector {
	t.Helper()
	c := dynamicscrm.New()
	if err := c.Configure(context.Background(), sdk.ConfigureRequest{Source: "crm", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	return c
}

func fullPass(ctx context.Context, c *dynamicscrm.Connector, req sdk.FetchRequest) (ids []string, cursor string, err error) {
	err = c.Fetch(ctx, req, func(p sdk.Page) error {
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		if p.Done {
			cursor = p.Cursor
		}
		return nil
	})
	return ids, cursor, err
}

func TestWrongCredentialsNameTheTenantAndClientButNeverTheSecret(t *testing.T) {
	emu, _ := startEmulator(t, emulator.Options{Seed: 1, Accounts: 1})
	cfg, _ := json.Marshal(map[string]any{"url": emu.URL(), "token_url": emu.TokenURL(), "tenant_id": "synchub-tenant",
		"client_id": "synchub-dev", "client_secret": "not-the-secret-42"})
	_, err := configured(t, cfg).Check(context.Background())
	if sdk.CodeOf(err) != sdk.CodeAuth {
		t.Fatalf("Check with a wrong secret: %v (code %s), want an auth error", err, sdk.CodeOf(err))
	}
	msg := err.Error()
	if !strings.Contains(msg, "synchub-tenant") || !strings.Contains(msg, "synchub-dev") || strings.Contains(msg, "not-the-secret-42") {
		t.Errorf("message %q must name tenant and client id and hide the secret", msg)
	}
}

func TestAnExpiredDeltaTokenAsksForAFullPull(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 3, Now: clock})
	_ = emu
	c := configured(t, cfg)
	ctx := context.Background()
	_, cursor, err := fullPass(ctx, c, sdk.FetchRequest{Entity: "account", PageSize: 2})
	if err != nil || cursor == "" {
		t.Fatalf("full pass: cursor %q, %v", cursor, err)
	}
	mu.Lock()
	now = now.Add(8 * 24 * time.Hour)
	mu.Unlock()
	err = c.Fetch(ctx, sdk.FetchRequest{Entity: "account", Incremental: true, Cursor: cursor}, func(sdk.Page) error { return nil })
	if !errors.Is(err, sdk.ErrCursorExpired) {
		t.Fatalf("incremental pass on an expired token: %v, want ErrCursorExpired", err)
	}
}

func TestACreateWhoseAnswerWasLostIsNotMadeTwice(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 2})
	c := configured(t, cfg)
	ctx := context.Background()
	id := uuid.NewString()
	req := sdk.UploadRequest{Ops: []sdk.Op{{MutationID: "m1", Entity: "account", Kind: sdk.OpCreate, ID: id,
		Fields: map[string]any{"name": "Lost answer"}}}}
	before := emu.Count("accounts")
	emu.InjectFault(emulator.Fault{Path: "$batch", AfterApply: true})
	if _, err := c.Upload(ctx, req); err == nil {
		t.Fatal("the upload whose answer was lost reported success")
	}
	res, err := c.Upload(ctx, req)
	if err != nil || res.Results[0].Status != sdk.StatusApplied {
		t.Fatalf("the retried create: %+v, %v; want applied", res, err)
	}
	if n := emu.Count("accounts"); n != before+1 {
		t.Errorf("accounts went from %d to %d: the create was made %d times", before, n, n-before)
	}
}

func TestAStaleUpdateIsAConflictCarryingTheServerRecord(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 2})
	c := configured(t, cfg)
	ctx := context.Background()
	id := emu.IDs("accounts")[0]
	row, _ := emu.Get("accounts", id)
	stale, _ := row["@odata.etag"].(string)
	emu.Upsert("accounts", id, map[string]any{"name": "Changed on the server"})
	res, err := c.Upload(ctx, sdk.UploadRequest{Ops: []sdk.Op{{MutationID: "m", Entity: "account", Kind: sdk.OpUpdate, ID: id,
		BaseVersion: stale, Fields: map[string]any{"telephone1": "1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Results[0]
	if r.Status != sdk.StatusConflict || r.Record == nil || r.Record.Fields["name"] != "Changed on the server" {
		t.Fatalf("result %+v, want a conflict with the server's record", r)
	}
}

func TestThrottlingIsWaitedOut(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 9, ContactsPerAccount: -1, NotesPerAccount: -1,
		RequestBudget: 4, BudgetWindow: time.Second})
	c := configured(t, cfg)
	ids, _, err := fullPass(context.Background(), c, sdk.FetchRequest{Entity: "account", PageSize: 2})
	if err != nil {
		t.Fatalf("a full pass under a 4-requests-per-second budget: %v", err)
	}
	if len(ids) != emu.Count("accounts") {
		t.Errorf("got %d of %d accounts", len(ids), emu.Count("accounts"))
	}
}

func TestAnHTMLErrorPageIsAClearError(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 2})
	c := configured(t, cfg)
	if _, err := c.Schema(context.Background(), sdk.SchemaRequest{Entities: []string{"account"}}); err != nil {
		t.Fatal(err)
	}
	emu.InjectFault(emulator.Fault{Path: "accounts", Method: "GET", Status: 502, Garbage: true, Times: 10})
	_, _, err := fullPass(context.Background(), c, sdk.FetchRequest{Entity: "account"})
	if err == nil || !strings.Contains(err.Error(), "account") {
		t.Fatalf("a fetch answered with an HTML page: %v, want an error naming the entity", err)
	}
}

func TestUnknownTablesAndColumnsAreNamed(t *testing.T) {
	_, cfg := startEmulator(t, emulator.Options{Seed: 1, Accounts: 1})
	c := configured(t, cfg)
	ctx := context.Background()
	_, err := c.Schema(ctx, sdk.SchemaRequest{Entities: []string{"acount"}})
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeUnknownEntity || se.Entity != "acount" {
		t.Errorf("Schema of an unknown table: %v", err)
	}
	err = c.Fetch(ctx, sdk.FetchRequest{Entity: "account", Fields: []string{"nosuchcolumn"}}, func(sdk.Page) error { return nil })
	if !errors.As(err, &se) || se.Code != sdk.CodeUnknownField || se.Field != "nosuchcolumn" {
		t.Errorf("Fetch of an unknown column: %v", err)
	}
}
