package sdktest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/sdk"
)

// fieldsCatcher keeps the fields of the ops Upload hands it.
type fieldsCatcher struct{ got *[]map[string]any }

func (fieldsCatcher) Describe() sdk.Description                             { return sdk.Description{Name: "catcher"} }
func (fieldsCatcher) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (fieldsCatcher) Check(context.Context) (sdk.CheckResult, error)        { return sdk.CheckResult{}, nil }
func (fieldsCatcher) Schema(context.Context, sdk.SchemaRequest) (sdk.Schema, error) {
	return sdk.Schema{}, nil
}
func (fieldsCatcher) Fetch(context.Context, sdk.FetchRequest, func(sdk.Page) error) error { return nil }

func (c fieldsCatcher) Upload(_ context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	var out sdk.UploadResponse
	for _, op := range req.Ops {
		*c.got = append(*c.got, op.Fields)
		out.Results = append(out.Results, sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusApplied, ID: op.ID})
	}
	return out, nil
}

// TestOpFieldsKeepEveryDigit: a connector gets an op's numbers as
// json.Number with every digit the device sent, in its own process and
// over gRPC alike, whether the host sends the fields decoded or as JSON.
// (A float64 would turn 9007199254740993 into ...992 and round a long
// decimal.)
func TestOpFieldsKeepEveryDigit(t *testing.T) {
	const raw = `{"big":9007199254740993,"amount":12345678901234567890.123456789,"small":-7,"nested":{"n":1e400},"name":"A"}`
	want := map[string]any{
		"big": json.Number("9007199254740993"), "amount": json.Number("12345678901234567890.123456789"),
		"small": json.Number("-7"), "nested": map[string]any{"n": json.Number("1e400")}, "name": "A",
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var got []map[string]any
			client := m.connect(t, fieldsCatcher{got: &got})
			_, err := client.Upload(context.Background(), sdk.UploadRequest{Ops: []sdk.Op{
				{MutationID: "m1", Entity: "account", Kind: sdk.OpCreate, ID: "r1", Raw: json.RawMessage(raw)},
			}})
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0])
		})
	}
}
