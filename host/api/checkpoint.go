package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A checkpoint token is
//
//	base64url(payload JSON) "." base64url(HMAC-SHA256(key, "synchub-checkpoint\x00" + first part))
//
// without padding. The MAC covers the encoded payload exactly as sent, so a
// token verifies only if the hub wrote it byte for byte.

// checkpointVersion is the payload version this hub writes and reads.
const checkpointVersion = 1

// maxCheckpointLen bounds the work spent on a token (a few hundred
// partitions fit comfortably).
const maxCheckpointLen = 64 << 10

var checkpointDomain = []byte("synchub-checkpoint\x00")

// Checkpoint errors.
var (
	errCheckpointMalformed = errors.New("checkpoint is malformed")
	errCheckpointSignature = errors.New("checkpoint signature does not match")
	errCheckpointVersion   = errors.New("checkpoint version is not supported")
)

// checkpoint is what a device has seen of one source.
type checkpoint struct {
	Version int    `json:"v"`
	Source  string `json:"src"`
	// User is the store's user id, Device the device's own id.
	User     int64  `json:"uid"`
	Device   string `json:"dev"`
	IssuedAt int64  `json:"iat"` // Unix seconds
	// Seqs is the seq reached per partition of the subscription.
	Seqs map[string]int64 `json:"p"`
	// Applied is the seq up to which the device's applied mutations have
	// been reported (the changes feed's "applied"); absent in checkpoints
	// written before the push stage, which then report from 0 again.
	Applied int64 `json:"a,omitempty"`
}

func checkpointMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(checkpointDomain)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// signCheckpoint encodes and signs cp.
func signCheckpoint(key []byte, cp checkpoint) string {
	data, _ := json.Marshal(cp) // a struct of strings and ints: cannot fail
	payload := base64.RawURLEncoding.EncodeToString(data)
	return payload + "." + base64.RawURLEncoding.EncodeToString(checkpointMAC(key, payload))
}

// verifyCheckpoint checks token's signature and decodes it. It does not
// check whom the checkpoint belongs to. Errors wrap errCheckpointMalformed,
// errCheckpointSignature or errCheckpointVersion.
func verifyCheckpoint(key []byte, token string) (checkpoint, error) {
	if len(token) > maxCheckpointLen {
		return checkpoint{}, fmt.Errorf("%w: longer than %d bytes", errCheckpointMalformed, maxCheckpointLen)
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || payload == "" || sig == "" || strings.Contains(sig, ".") {
		return checkpoint{}, fmt.Errorf("%w: want <payload>.<signature>", errCheckpointMalformed)
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		return checkpoint{}, fmt.Errorf("%w: signature is not base64url", errCheckpointMalformed)
	}
	if !hmac.Equal(mac, checkpointMAC(key, payload)) {
		return checkpoint{}, errCheckpointSignature
	}
	// Signed by this hub from here on; still decode defensively.
	data, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return checkpoint{}, fmt.Errorf("%w: payload is not base64url", errCheckpointMalformed)
	}
	var cp checkpoint
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cp); err != nil {
		return checkpoint{}, fmt.Errorf("%w: payload: %v", errCheckpointMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return checkpoint{}, fmt.Errorf("%w: payload has trailing data", errCheckpointMalformed)
	}
	if cp.Version != checkpointVersion {
		return checkpoint{}, fmt.Errorf("%w: version %d (this hub reads %d); sync again from an empty checkpoint",
			errCheckpointVersion, cp.Version, checkpointVersion)
	}
	if cp.Source == "" || cp.User <= 0 || cp.Device == "" {
		return checkpoint{}, fmt.Errorf("%w: source, user or device missing", errCheckpointMalformed)
	}
	for p, seq := range cp.Seqs {
		if seq < 0 {
			return checkpoint{}, fmt.Errorf("%w: negative seq for partition %q", errCheckpointMalformed, p)
		}
	}
	if cp.Applied < 0 {
		return checkpoint{}, fmt.Errorf("%w: negative applied seq", errCheckpointMalformed)
	}
	return cp, nil
}
