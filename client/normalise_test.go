package client

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormaliseJSON(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "compacted, in the hub's order", in: "{ \"b\": 1,\n \"a\": [1, 2], \"c\": {\"x\": null} }", want: `{"b":1,"a":[1,2],"c":{"x":null}}`},
		{name: "numbers and strings as sent", in: `{"n": 12345678901234567890, "f": 1.50, "s": "<a & b>"}`, want: `{"n":12345678901234567890,"f":1.50,"s":"<a & b>"}`},
		{name: "none", in: "", want: "{}"},
		{name: "null", in: " null ", want: "{}"},
		{name: "an array", in: `[1]`, err: "not a JSON object"},
		{name: "a string", in: `"x"`, err: "not a JSON object"},
		{name: "truncated", in: `{"a": 1`, err: "decode fields"},
		{name: "trailing data", in: `{"a": 1} {"b": 2}`, err: "decode fields"},
		{name: "bad token", in: `{"a": tru}`, err: "decode fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normaliseJSON([]byte(tt.in))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
