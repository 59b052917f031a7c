package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest"
)

// opsConn records the ops its Upload gets and applies them all.
type opsConn struct {
	mu  sync.Mutex
	got []sdk.Op
	// raw is the fields JSON of the record each result carries ("": none).
	raw string
	// forget keeps got empty (a benchmark's many calls).
	forget bool
}

func (*opsConn) Describe() sdk.Description                             { return sdk.Description{Name: "ops"} }
func (*opsConn) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (*opsConn) Check(context.Context) (sdk.CheckResult, error)        { return sdk.CheckResult{}, nil }
func (*opsConn) Schema(context.Context, sdk.SchemaRequest) (sdk.Schema, error) {
	return sdk.Schema{}, nil
}

func (c *opsConn) Upload(_ context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out sdk.UploadResponse
	for _, op := range req.Ops {
		if !c.forget {
			c.got = append(c.got, op)
		}
		res := sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusApplied, ID: op.ID}
		if c.raw != "" {
			res.Record = &sdk.Record{ID: op.ID, Raw: json.RawMessage(c.raw)}
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

// rawOpsConn is an opsConn that reads the fields' JSON.
type rawOpsConn struct{ opsConn }

func (*rawOpsConn) UploadsRawFields() {}

// TestOpsReachTheConnectorAsItReadsThem: through either sdk.Client, a
// RawFieldsUploader gets each op's fields as the JSON the host sent (or
// Fields encoded) and no map; any other connector gets the map and no
// JSON; fields that are not a JSON object are refused before either sees
// them.
func TestOpsReachTheConnectorAsItReadsThem(t *testing.T) {
	ops := []sdk.Op{
		{MutationID: "m1", Entity: "account", Kind: sdk.OpCreate, ID: "a1", Raw: json.RawMessage(`{"n":12345678901234567890,"s":"\u00e9"}`)},
		{MutationID: "m2", Entity: "account", Kind: sdk.OpUpdate, ID: "a2", Fields: map[string]any{"n": json.Number("1.50")}},
		{MutationID: "m3", Entity: "account", Kind: sdk.OpDelete, ID: "a3"},
	}
	wantRaw := []string{`{"n":12345678901234567890,"s":"\u00e9"}`, `{"n":1.50}`, ``}
	wantFields := []string{`map[n:12345678901234567890 s:é]`, `map[n:1.50]`, `map[]`}
	clients := map[string]func(sdk.Connector) sdk.Client{
		"in_process": func(c sdk.Connector) sdk.Client { return sdk.InProcess(c, nil) },
		"grpc":       func(c sdk.Connector) sdk.Client { return sdktest.ServeGRPC(t, c) },
	}
	for name, client := range clients {
		t.Run(name, func(t *testing.T) {
			raw, plain := &rawOpsConn{}, &opsConn{}
			for _, c := range []sdk.Connector{raw, plain} {
				if _, err := client(c).Upload(context.Background(), sdk.UploadRequest{Ops: ops}); err != nil {
					t.Fatalf("Upload: %v", err)
				}
			}
			for i, op := range raw.got {
				if op.Fields != nil || string(op.Raw) != wantRaw[i] {
					t.Errorf("the raw connector's op %s: Fields %v, Raw %s; want Raw %s", op.MutationID, op.Fields, op.Raw, wantRaw[i])
				}
			}
			for i, op := range plain.got {
				if op.Raw != nil || fmt.Sprint(op.Fields) != wantFields[i] {
					t.Errorf("the plain connector's op %s: Fields %v, Raw %s; want Fields %s", op.MutationID, op.Fields, op.Raw, wantFields[i])
				}
			}
			if len(raw.got) != len(ops) || len(plain.got) != len(ops) {
				t.Fatalf("got %d and %d ops, want %d", len(raw.got), len(plain.got), len(ops))
			}
			for _, bad := range []string{`{"n":`, `[1]`, `"x"`} {
				c := &rawOpsConn{}
				_, err := client(c).Upload(context.Background(), sdk.UploadRequest{Ops: []sdk.Op{{MutationID: "m9", Entity: "account",
					Kind: sdk.OpCreate, ID: "a9", Raw: json.RawMessage(bad)}}})
				if sdk.CodeOf(err) != sdk.CodeInvalidRequest || !strings.Contains(err.Error(), "m9") || len(c.got) > 0 {
					t.Errorf("fields %s: got %v (the connector saw %d ops), want an invalid request naming m9", bad, err, len(c.got))
				}
			}
		})
	}
}
