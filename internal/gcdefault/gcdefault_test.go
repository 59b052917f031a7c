package gcdefault

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestApply: the default is set unless the operator's environment sets
// GOGC or GOMEMLIMIT.
func TestApply(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantSet   bool
		wantValue int
		describe  string
	}{
		{"nothing set", nil, true, Percent, "GOGC=300 (synchub's default)"},
		{"GOGC set", map[string]string{"GOGC": "50"}, false, 77, "GOGC=50 (from the environment)"},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, false, 77, "GOMEMLIMIT=1GiB (from the environment)"},
		{"both set", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, false, 77, "GOGC=off, GOMEMLIMIT=1GiB (from the environment)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := debug.SetGCPercent(77)
			defer debug.SetGCPercent(before)
			assert.Equal(t, tt.wantSet, Apply())
			assert.Equal(t, tt.wantValue, debug.SetGCPercent(77))
			assert.Equal(t, tt.describe, Describe())
		})
	}
}
