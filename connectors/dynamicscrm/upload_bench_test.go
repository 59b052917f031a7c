package dynamicscrm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/internal/cputime"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest"
)

// BenchmarkUploadCreates sends Uploads of 100 creates of about 1 KB each,
// as P5's do, through the plugin channel (gRPC on loopback) to the
// connector and on to the emulator, all in this process. Its CPU profile
// shows the plugin's share of P5 apart from the emulator's:
//
//	go test ./connectors/dynamicscrm -run '^$' -bench UploadCreates -cpuprofile cpu.out
func BenchmarkUploadCreates(b *testing.B) {
	_, cfg := startEmulator(b, emulator.Options{Seed: 1, Accounts: 1, ContactsPerAccount: -1, NotesPerAccount: -1})
	client := sdktest.ServeGRPC(b, dynamicscrm.New())
	ctx := context.Background()
	if err := client.Configure(ctx, sdk.ConfigureRequest{Source: "crm", Config: cfg}); err != nil {
		b.Fatal(err)
	}
	desc := strings.Repeat("Visited on site; follow up on the renewal and the new service contract. ", 12)
	n := 0
	batch := func() sdk.UploadRequest {
		req := sdk.UploadRequest{RawResults: true}
		for range 100 {
			n++
			raw, err := json.Marshal(map[string]any{"name": fmt.Sprintf("Bench Device Account %d", n), "telephone1": fmt.Sprintf("+1-555-%04d", n%10000),
				"emailaddress1": fmt.Sprintf("device%d@bench.example", n), "address1_city": "Lisbon", "description": desc})
			if err != nil {
				b.Fatal(err)
			}
			id, _ := uuid.NewV7()
			req.Ops = append(req.Ops, sdk.Op{MutationID: uuid.NewString(), Entity: "account", Kind: sdk.OpCreate, ID: id.String(), Raw: raw})
		}
		return req
	}
	var cpu int64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		req := batch()
		b.StartTimer()
		c0 := cputime.Self()
		res, err := client.Upload(ctx, req)
		cpu += int64(cputime.Self() - c0)
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range res.Results {
			if r.Status != sdk.StatusApplied || r.Record == nil {
				b.Fatalf("op %d: %s %s", i, r.Status, r.Message)
			}
		}
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
