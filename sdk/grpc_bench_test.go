package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/synchub/synchub/internal/cputime"
)

// BenchmarkGRPCUpload sends an Upload of 100 creates of about 1 KB each
// through the plugin channel's gRPC options on loopback, both sides in
// this process, the connector answering each create with a record of
// about 1 KB: the channel's own cost per batch, as P5 pays it twice per
// batch (hub and plugin). It reports the process's CPU per batch
// (go test ./sdk -run '^$' -bench GRPCUpload).
func BenchmarkGRPCUpload(b *testing.B) {
	raw := fmt.Sprintf(`{"name":"Account","description":%q}`, strings.Repeat("x", 1000))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(GRPCServerOptions()...)
	p := &GRPCPlugin{Impl: rawConn{raw: raw}}
	if err := p.GRPCServer(nil, srv); err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), append(GRPCDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	client := NewGRPCClient(cc)
	req := UploadRequest{RawResults: true}
	for i := range 100 {
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		req.Ops = append(req.Ops, Op{MutationID: "m" + id, Entity: "account", Kind: OpCreate, ID: id, Raw: json.RawMessage(raw)})
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
