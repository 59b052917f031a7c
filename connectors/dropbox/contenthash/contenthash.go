// Package contenthash computes Dropbox's content_hash: the SHA-256 of the
// concatenated SHA-256 digests of each 4 MiB block of a file, hex-encoded
// (https://www.dropbox.com/developers/reference/content-hash). A zero-byte
// file has no block, so its hash is the SHA-256 of nothing.
//
// The connector uses it to verify what it uploaded and the emulator to
// label what it stores; the package must know nothing else of either.
package contenthash

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"hash"
	"io"
)

// BlockSize is the size of the blocks hashed one by one: 4 MiB.
const BlockSize = 4 << 20

// Hash is a streaming content hasher; it implements hash.Hash. Its memory
// use is constant whatever the file's size.
type Hash struct {
	block  hash.Hash // the current block
	n      int       // bytes in the current block
	digest hash.Hash // over the block digests
	sum    [sha256.Size]byte
}

var _ hash.Hash = (*Hash)(nil)

// New returns a content hasher.
func New() *Hash {
	return &Hash{block: sha256.New(), digest: sha256.New()}
}

// Write adds p to the content; it never fails.
func (h *Hash) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(len(p), BlockSize-h.n)
		h.block.Write(p[:k])
		h.n += k
		p = p[k:]
		if h.n == BlockSize {
			h.digest.Write(h.block.Sum(h.sum[:0]))
			h.block.Reset()
			h.n = 0
		}
	}
	return total, nil
}

// Sum appends the content hash of what was written so far to b; it does not
// change the hasher's state.
func (h *Hash) Sum(b []byte) []byte {
	d := cloneSHA(h.digest)
	if h.n > 0 {
		d.Write(h.block.Sum(nil))
	}
	return d.Sum(b)
}

// Hex returns the content hash as Dropbox reports it: lower-case hex.
func (h *Hash) Hex() string { return hex.EncodeToString(h.Sum(nil)) }

// Reset forgets everything written.
func (h *Hash) Reset() {
	h.block.Reset()
	h.digest.Reset()
	h.n = 0
}

// Size is the length of a sum: 32 bytes.
func (h *Hash) Size() int { return sha256.Size }

// BlockSize is the hash's preferred write size: one 4 MiB block.
func (h *Hash) BlockSize() int { return BlockSize }

// Of returns the content hash of b.
func Of(b []byte) string {
	h := New()
	h.Write(b)
	return h.Hex()
}

// OfReader returns the content hash of everything r yields, reading it in
// blocks (never all of it at once), and the number of bytes read.
func OfReader(r io.Reader) (string, int64, error) {
	h := New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return h.Hex(), n, nil
}

// Combine returns the content hash of a file from its blocks' SHA-256
// digests, in order: for content generated block by block, whose digests
// can be computed without the whole content.
func Combine(blockDigests [][sha256.Size]byte) string {
	d := sha256.New()
	for _, b := range blockDigests {
		d.Write(b[:])
	}
	return hex.EncodeToString(d.Sum(nil))
}

// cloneSHA copies a SHA-256 state, so Sum can finish a copy.
func cloneSHA(h hash.Hash) hash.Hash {
	if c, ok := h.(hash.Cloner); ok {
		if cl, err := c.Clone(); err == nil {
			return cl
		}
	}
	// Without Cloner (GOFIPS140=v1.0.0) the state still marshals.
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	d := sha256.New()
	_ = d.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
	return d
}
