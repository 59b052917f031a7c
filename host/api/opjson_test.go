package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encoderOp is how encoding/json writes an op (the changes stream's
// encoder does not escape HTML).
func encoderOp(t *testing.T, j opJSON) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(j))
	return b.Bytes()
}

func TestAppendOpWritesWhatEncodingJSONWrites(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		op   opJSON
	}{
		{"a put", opJSON{Seq: 42, Partition: "account/owner=u1", Entity: "account", ID: "a1", Op: "put",
			Version: `W/"1234"`, ModifiedAt: &at, Fields: json.RawMessage(`{"name":"A","n":1.50,"tags":["x"],"owner":{"entity":"user","id":"u1"}}`)}},
		{"a remove", opJSON{Seq: 7, Partition: "account/*", Entity: "account", ID: "a2", Op: "remove"}},
		{"a put without version, time or fields", opJSON{Seq: 1, Partition: "", Entity: "e", ID: "", Op: "put"}},
		{"strings to escape", opJSON{Seq: -3, Partition: "p\"\\\n\r\t\b\f\x00\x1f/<>&", Entity: "é€😀", ID: "bad\xffutf8\u2028\u2029",
			Op: "put", Version: "\x7f"}},
		{"a time in another zone", opJSON{Seq: 9, Partition: "p", Entity: "e", ID: "i", Op: "put",
			ModifiedAt: func() *time.Time { t := at.In(time.FixedZone("x", 3600)); return &t }()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendOp(nil, tt.op)
			require.NoError(t, err)
			assert.Equal(t, string(encoderOp(t, tt.op)), string(got))
		})
	}
	t.Run("random strings", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		alphabet := []string{"a", "\"", "\\", "\n", "\x01", "\x7f", "é", "\u2028", "\xff", "\xe2\x80", "😀", "<", "/"}
		for range 2000 {
			var s [4]string
			for k := range s {
				for range r.IntN(8) {
					s[k] += alphabet[r.IntN(len(alphabet))]
				}
			}
			op := opJSON{Seq: r.Int64(), Partition: s[0], Entity: s[1], ID: s[2], Op: "put", Version: s[3]}
			got, err := appendOp(nil, op)
			require.NoError(t, err)
			require.Equal(t, string(encoderOp(t, op)), string(got), "%q", s)
		}
	})
	t.Run("a time json cannot write fails", func(t *testing.T) {
		bad := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		_, err := appendOp(nil, opJSON{Seq: 1, Op: "put", ModifiedAt: &bad})
		require.Error(t, err)
	})
}
