package sdk

import (
	"context"
	"encoding/json"
	"testing"
)

// rawConn answers with records whose fields are the given JSON, as a
// connector that writes Raw does.
type rawConn struct{ raw string }

func (rawConn) Describe() Description                             { return Description{Name: "raw"} }
func (rawConn) Configure(context.Context, ConfigureRequest) error { return nil }
func (rawConn) Check(context.Context) (CheckResult, error)        { return CheckResult{}, nil }
func (rawConn) Schema(context.Context, SchemaRequest) (Schema, error) {
	return Schema{}, nil
}

func (c rawConn) Fetch(_ context.Context, _ FetchRequest, send func(Page) error) error {
	return send(Page{Records: []Record{{ID: "r1", Raw: json.RawMessage(c.raw)}}})
}

func (c rawConn) Upload(_ context.Context, req UploadRequest) (UploadResponse, error) {
	var out UploadResponse
	for _, op := range req.Ops {
		out.Results = append(out.Results, OpResult{MutationID: op.MutationID, Status: StatusApplied, ID: op.ID,
			Record: &Record{ID: op.ID, Raw: json.RawMessage(c.raw)}})
	}
	return out, nil
}

// TestInProcessChecksRawFields: the in-process client refuses a record
// whose fields JSON is not an object, as the gRPC client does, on Fetch and
// on Upload's results.
func TestInProcessChecksRawFields(t *testing.T) {
	tests := []struct {
		raw  string
		good bool
	}{
		{`{"name":"A"}`, true},
		{` {"a":[1,2]}`, true},
		{`{"name":`, false},
		{`[1]`, false},
		{`"x"`, false},
		{`{"a":1}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			c := InProcess(rawConn{raw: tt.raw}, nil)
			ferr := c.Fetch(context.Background(), FetchRequest{Entity: "account"}, func(Page) error { return nil })
			_, uerr := c.Upload(context.Background(), UploadRequest{RawResults: true,
				Ops: []Op{{MutationID: "m1", Entity: "account", Kind: OpCreate, ID: "r1", Fields: map[string]any{"name": "A"}}}})
			for call, err := range map[string]error{"Fetch": ferr, "Upload": uerr} {
				switch {
				case tt.good && err != nil:
					t.Errorf("%s: %v", call, err)
				case !tt.good && CodeOf(err) != CodeBadResponse:
					t.Errorf("%s: got %v, want a bad response", call, err)
				}
			}
		})
	}
}
