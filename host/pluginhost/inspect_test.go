package pluginhost

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/synchub/synchub/sdk"
)

func TestInspect(t *testing.T) {
	t.Parallel()
	t.Run("describes_a_plugin", func(t *testing.T) {
		t.Parallel()
		log, _ := testLogger(t)
		info, err := Inspect(testCtx(t), chaosBin, log)
		if err != nil {
			t.Fatal(err)
		}
		want := Info{Name: "chaos", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion,
			Capabilities: []sdk.Capability{sdk.CapFetch, sdk.CapUpload}, SHA256: chaosBin.SHA256, Path: chaosBin.Path}
		info.ConfigSchema = nil
		if !reflect.DeepEqual(info, want) {
			t.Errorf("Inspect = %+v, want %+v", info, want)
		}
	})

	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	changed := chaosBin // as if the file changed after Discover
	changed.SHA256 = strings.Repeat("0", 64)
	pinned := changed // as if the config's sha256 was wrong and verification skipped
	pinned.ExpectedSHA256 = pinned.SHA256
	tests := []struct {
		name string
		bin  Binary
		want []string
	}{
		{"refuses_a_program_that_is_not_a_plugin", Binary{Name: "true", Path: truePath},
			[]string{"plugin true (" + truePath + "): not a synchub plugin: "}},
		{"refuses_a_script_that_prints_junk", junkBin,
			[]string{"plugin junk (" + junkBin.Path + "): not a synchub plugin: ", "hello, I am not a plugin"}},
		{"explains_stdout_noise_before_the_handshake", noisyBin,
			[]string{"plugin noisy (" + noisyBin.Path + "): not a synchub plugin: ", `"connector starting up..." on stdout before the handshake`}},
		{"refuses_protocol_version_2_in_the_handshake", protocol2Bin,
			[]string{"plugin protocol2", "speaks protocol version 2; this hub supports 1"}},
		{"refuses_protocol_version_2_in_describe", describe2Bin,
			[]string{"plugin describe2", "speaks protocol version 2; this hub supports 1"}},
		{"refuses_a_binary_that_changed_since_discovery", changed,
			[]string{"plugin chaos", chaosBin.Path, "changed since the hub verified it", changed.SHA256, chaosBin.SHA256}},
		{"refuses_a_binary_that_does_not_match_the_configs_checksum", pinned,
			[]string{"plugin chaos", chaosBin.Path, "checksum mismatch", pinned.SHA256, chaosBin.SHA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, _ := testLogger(t)
			_, err := Inspect(testCtx(t), tt.bin, log)
			mustContain(t, err, tt.want...)
		})
	}
}
