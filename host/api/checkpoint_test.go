package api

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testKey = []byte(strings.Repeat("k", 32))

func sampleCheckpoint() checkpoint {
	return checkpoint{Version: checkpointVersion, Source: "crm", User: 1, Device: "phone", IssuedAt: 1700000000,
		Seqs: map[string]int64{"account/owner=a-1": 12, "product/*": 40}}
}

// signRaw signs an arbitrary payload the way signCheckpoint does.
func signRaw(key, payload []byte) string {
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(checkpointMAC(key, p))
}

func TestCheckpointToken(t *testing.T) {
	good := signCheckpoint(testKey, sampleCheckpoint())
	t.Run("a_signed_checkpoint_round_trips", func(t *testing.T) {
		cp, err := verifyCheckpoint(testKey, good)
		require.NoError(t, err)
		assert.Equal(t, sampleCheckpoint(), cp)
	})
	payload, sig, _ := strings.Cut(good, ".")
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"another_key_does_not_verify", signCheckpoint([]byte(strings.Repeat("j", 32)), sampleCheckpoint()), errCheckpointSignature},
		{"a_changed_signature_does_not_verify", payload + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), errCheckpointSignature},
		{"non_canonical_base64_in_the_signature_is_malformed", payload + "." + sig[:len(sig)-1] + string(sig[len(sig)-1]^1), nil},
		{"a_missing_signature_is_malformed", payload, errCheckpointMalformed},
		{"two_dots_are_malformed", good + ".x", errCheckpointMalformed},
		{"an_empty_payload_is_malformed", "." + sig, errCheckpointMalformed},
		{"an_oversized_token_is_malformed", strings.Repeat("a", maxCheckpointLen+1), errCheckpointMalformed},
		{"a_signed_non_json_payload_is_malformed", signRaw(testKey, []byte("nope")), errCheckpointMalformed},
		{"a_signed_payload_with_unknown_fields_is_malformed", signRaw(testKey, []byte(`{"v":1,"src":"crm","uid":1,"dev":"d","p":{},"admin":true}`)), errCheckpointMalformed},
		{"a_signed_payload_of_another_version_is_refused", signRaw(testKey, []byte(`{"v":2,"src":"crm","uid":1,"dev":"d","p":{}}`)), errCheckpointVersion},
		{"a_signed_payload_with_a_negative_seq_is_malformed", signRaw(testKey, []byte(`{"v":1,"src":"crm","uid":1,"dev":"d","p":{"x":-1}}`)), errCheckpointMalformed},
		{"a_signed_payload_without_owner_is_malformed", signRaw(testKey, []byte(`{"v":1,"src":"crm","p":{}}`)), errCheckpointMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyCheckpoint(testKey, tc.token)
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			} else {
				assert.True(t, errors.Is(err, errCheckpointMalformed) || errors.Is(err, errCheckpointSignature), err)
			}
		})
	}
}

// FuzzCheckpointToken: the decoder never panics, and no token verifies
// unless this hub signed it: with a key the fuzzer never sees, only the
// seed tokens may verify.
func FuzzCheckpointToken(f *testing.F) {
	seeds := map[string]bool{}
	for _, cp := range []checkpoint{sampleCheckpoint(), {Version: 1, Source: "erp", User: 9, Device: "d", Seqs: map[string]int64{}}} {
		tok := signCheckpoint(testKey, cp)
		seeds[tok] = true
		f.Add(tok)
	}
	f.Add("")
	f.Add(".")
	f.Add("eyJ2IjoxfQ.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		cp, err := verifyCheckpoint(testKey, token)
		if err != nil {
			return
		}
		if !seeds[token] {
			t.Fatalf("token %q verified without being signed by the hub", token)
		}
		if cp.Version != checkpointVersion || cp.User <= 0 {
			t.Fatalf("verified checkpoint is invalid: %+v", cp)
		}
	})
}

// FuzzCheckpointPayload: whatever the payload, a token the hub signed
// decodes without panicking, and what decodes is valid.
func FuzzCheckpointPayload(f *testing.F) {
	f.Add([]byte(`{"v":1,"src":"crm","uid":1,"dev":"d","iat":1,"p":{"a/*":3}}`))
	f.Add([]byte(`{"v":1,"src":"crm","uid":1,"dev":"d","p":null}`))
	f.Add([]byte(`{"v":1e400}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		cp, err := verifyCheckpoint(testKey, signRaw(testKey, payload))
		if err != nil {
			return
		}
		if cp.Version != checkpointVersion || cp.Source == "" || cp.User <= 0 || cp.Device == "" {
			t.Fatalf("invalid checkpoint accepted: %+v", cp)
		}
		for _, seq := range cp.Seqs {
			if seq < 0 {
				t.Fatalf("negative seq accepted: %+v", cp)
			}
		}
	})
}
