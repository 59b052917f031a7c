package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/synchub/synchub/internal/cputime"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest"
)

// BenchmarkGRPCUpload sends an Upload of 100 creates of about 1 KB each
// through the plugin channel's gRPC options on loopback, both sides in
// this process, the connector (reading the fields' JSON) answering each
// create with a record of about 1 KB: the channel's own cost per batch, as
// P5 pays it twice per batch (hub and plugin). It reports the process's
// CPU per batch (go test ./sdk -run '^$' -bench GRPCUpload).
func BenchmarkGRPCUpload(b *testing.B) {
	raw := fmt.Sprintf(`{"name":"Account","description":%q}`, strings.Repeat("x", 1000))
	client := sdktest.ServeGRPC(b, &rawOpsConn{opsConn{raw: raw, forget: true}})
	req := sdk.UploadRequest{RawResults: true}
	for i := range 100 {
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		req.Ops = append(req.Ops, sdk.Op{MutationID: "m" + id, Entity: "account", Kind: sdk.OpCreate, ID: id, Raw: json.RawMessage(raw)})
	}
	ctx := context.Background()
	cpu0 := cputime.Self()
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Upload(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Results) != len(req.Ops) {
			b.Fatalf("%d results for %d ops", len(res.Results), len(req.Ops))
		}
	}
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N), "cpu-ns/op")
}
