package emulator

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash/fnv"
	"io"
	"strings"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
)

// trailer is the size of the block number that ends each 4 MiB block of
// generated content.
const trailer = 8

// Generated is the content of a file made by PutLargeFile: bytes computed
// from the path it was created at and the offset, never stored, so a file of
// any size costs nothing. Every 4 MiB block (contenthash.BlockSize) is the
// same pseudo-random pattern followed by the block's number (8 bytes, big
// endian): a read at a wrong block-aligned offset shows, and the content
// hash needs the pattern hashed once, each block's digest being the
// pattern's SHA-256 state finished with its number.
type Generated struct {
	seed uint64
	size int64
}

// NewGenerated returns the generated content of a file of size bytes
// created at path (compared case-insensitively), as the emulator serves it.
func NewGenerated(path string, size int64) *Generated {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(path)))
	return &Generated{seed: h.Sum64(), size: max(size, 0)}
}

// Size is the content's length.
func (g *Generated) Size() int64 { return g.size }

// ReadAt fills p with the content at off; it implements io.ReaderAt.
func (g *Generated) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= g.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := g.size - off; int64(n) > rest {
		n = int(rest)
	}
	for i := 0; i < n; {
		o := off + int64(i)
		block, pos := o/contenthash.BlockSize, int(o%contenthash.BlockSize)
		if pos >= contenthash.BlockSize-trailer {
			var num [trailer]byte
			binary.BigEndian.PutUint64(num[:], uint64(block))
			i += copy(p[i:n], num[pos-(contenthash.BlockSize-trailer):])
			continue
		}
		word := splitmix(g.seed + uint64(pos/8))
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], word)
		end := min(pos/8*8+8, contenthash.BlockSize-trailer)
		i += copy(p[i:n], w[pos%8:end-pos/8*8])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ContentHash is the Dropbox content_hash of the content, computed without
// generating more than one block of it.
func (g *Generated) ContentHash() string {
	const bs = contenthash.BlockSize
	full := g.size / bs
	var digests [][sha256.Size]byte
	if full > 0 {
		pattern := sha256.New()
		buf := make([]byte, 64<<10)
		for off := int64(0); off < bs-trailer; off += int64(len(buf)) {
			k := min(int64(len(buf)), bs-trailer-off)
			_, _ = g.ReadAt(buf[:k], off)
			pattern.Write(buf[:k])
		}
		state, _ := pattern.(encoding.BinaryMarshaler).MarshalBinary()
		for b := int64(0); b < full; b++ {
			d := sha256.New()
			_ = d.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
			var num [trailer]byte
			binary.BigEndian.PutUint64(num[:], uint64(b))
			d.Write(num[:])
			var sum [sha256.Size]byte
			d.Sum(sum[:0])
			digests = append(digests, sum)
		}
	}
	if rest := g.size - full*bs; rest > 0 {
		last := make([]byte, rest)
		_, _ = g.ReadAt(last, full*bs)
		digests = append(digests, sha256.Sum256(last))
	}
	return contenthash.Combine(digests)
}

// splitmix is SplitMix64's output function: a cheap, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
