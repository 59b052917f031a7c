package contenthash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// reference computes the content hash the way Dropbox's documentation
// spells it out, all in memory.
func reference(b []byte) string {
	var cat []byte
	for len(b) > 0 {
		n := min(len(b), BlockSize)
		sum := sha256.Sum256(b[:n])
		cat = append(cat, sum[:]...)
		b = b[n:]
	}
	sum := sha256.Sum256(cat)
	return hex.EncodeToString(sum[:])
}

func TestContentHash(t *testing.T) {
	big := make([]byte, 2*BlockSize+12345)
	for i := range big {
		big[i] = byte(i*131 + i>>13)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"an_empty_file_hashes_no_block", nil},
		{"a_small_file_is_one_block", []byte("hello, dropbox")},
		{"exactly_one_block", big[:BlockSize]},
		{"one_byte_over_a_block", big[:BlockSize+1]},
		{"more_than_two_blocks", big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := reference(tt.data)
			if got := Of(tt.data); got != want {
				t.Errorf("Of = %s, want %s", got, want)
			}
			h := New()
			for rest := tt.data; len(rest) > 0; { // odd write sizes straddle blocks
				n := min(len(rest), 1000003)
				h.Write(rest[:n])
				rest = rest[n:]
			}
			if got := h.Hex(); got != want {
				t.Errorf("streamed = %s, want %s", got, want)
			}
			if got, n, err := OfReader(bytes.NewReader(tt.data)); got != want || n != int64(len(tt.data)) || err != nil {
				t.Errorf("OfReader = %s, %d, %v", got, n, err)
			}
		})
	}
	t.Run("the_empty_hash_is_sha256_of_nothing", func(t *testing.T) {
		if got := Of(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("sum_leaves_the_state_alone", func(t *testing.T) {
		h := New()
		h.Write(big[:BlockSize+7])
		_ = h.Sum(nil)
		h.Write(big[BlockSize+7:])
		if got := h.Hex(); got != reference(big) {
			t.Errorf("after an intermediate Sum: %s", got)
		}
	})
	t.Run("combine_of_block_digests_matches", func(t *testing.T) {
		var ds [][sha256.Size]byte
		for b := big; len(b) > 0; b = b[min(len(b), BlockSize):] {
			ds = append(ds, sha256.Sum256(b[:min(len(b), BlockSize)]))
		}
		if got := Combine(ds); got != reference(big) {
			t.Errorf("Combine = %s", got)
		}
	})
}
