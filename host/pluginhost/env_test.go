package pluginhost

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRuntimeEnv: a plugin gets the hub's GOGC and GOMEMLIMIT, and nothing
// else of its environment, unless its own env sets them.
func TestRuntimeEnv(t *testing.T) {
	hub := map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB", "SYNCHUB_SECRET": "x"}
	lookup := func(k string) (string, bool) { v, ok := hub[k]; return v, ok }
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"both from the hub", nil, []string{"GOGC=150", "GOMEMLIMIT=1GiB"}},
		{"the plugin's own wins", []string{"GOGC=50"}, []string{"GOMEMLIMIT=1GiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, runtimeEnv(lookup, tt.env))
		})
	}
	assert.Empty(t, runtimeEnv(func(string) (string, bool) { return "", false }, nil), "nothing set, nothing passed")
}
