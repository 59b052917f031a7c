package client

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// verifyHash checks a file against a hash in one of the forms back ends
// give: "sha256:<hex>", "sha1:<hex>", "md5:<hex>", "dropbox:<hex>" (the
// Dropbox content_hash), or bare hex (64 digits: SHA-256 or the Dropbox
// content hash, 40: SHA-1, 32: MD5). known is false for other forms.
func verifyHash(path, want string) (ok, known bool, err error) {
	want = strings.Trim(strings.TrimSpace(want), `"`)
	algo, digest, found := strings.Cut(want, ":")
	if !found {
		algo, digest = "", want
	}
	digest = strings.ToLower(digest)
	if _, err := hex.DecodeString(digest); err != nil {
		return false, false, nil
	}
	var candidates []func() hash.Hash
	switch strings.ToLower(algo) {
	case "sha256", "sha-256":
		candidates = append(candidates, sha256.New)
	case "sha1", "sha-1":
		candidates = append(candidates, sha1.New)
	case "md5":
		candidates = append(candidates, md5.New)
	case "dropbox":
		candidates = append(candidates, newDropboxHash)
	case "":
		switch len(digest) {
		case 64:
			candidates = append(candidates, sha256.New, newDropboxHash)
		case 40:
			candidates = append(candidates, sha1.New)
		case 32:
			candidates = append(candidates, md5.New)
		}
	}
	if len(candidates) == 0 {
		return false, false, nil
	}
	hs := make([]hash.Hash, len(candidates))
	ws := make([]io.Writer, len(candidates))
	for i, mk := range candidates {
		hs[i] = mk()
		ws[i] = hs[i]
	}
	f, err := os.Open(path)
	if err != nil {
		return false, true, fmt.Errorf("verify %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(io.MultiWriter(ws...), f); err != nil {
		return false, true, fmt.Errorf("verify %s: %w", path, err)
	}
	for _, h := range hs {
		if hex.EncodeToString(h.Sum(nil)) == digest {
			return true, true, nil
		}
	}
	return false, true, nil
}

// dropboxHash is Dropbox's content_hash: SHA-256 over the concatenated
// SHA-256 digests of each 4 MiB block.
type dropboxHash struct {
	outer, block hash.Hash
	n            int
}

const dropboxBlock = 4 << 20

func newDropboxHash() hash.Hash { return &dropboxHash{outer: sha256.New(), block: sha256.New()} }

func (d *dropboxHash) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(dropboxBlock-d.n, len(p))
		d.block.Write(p[:k])
		d.n += k
		p = p[k:]
		if d.n == dropboxBlock {
			d.outer.Write(d.block.Sum(nil))
			d.block.Reset()
			d.n = 0
		}
	}
	return total, nil
}

func (d *dropboxHash) Sum(b []byte) []byte {
	outer := sha256.New()
	// Re-derive without disturbing the running state.
	if st, ok := d.outer.(interface{ MarshalBinary() ([]byte, error) }); ok {
		if data, err := st.MarshalBinary(); err == nil {
			if u, ok := outer.(interface{ UnmarshalBinary([]byte) error }); ok {
				_ = u.UnmarshalBinary(data)
			}
		}
	}
	if d.n > 0 {
		outer.Write(d.block.Sum(nil))
	}
	return outer.Sum(b)
}

func (d *dropboxHash) Reset()         { d.outer.Reset(); d.block.Reset(); d.n = 0 }
func (d *dropboxHash) Size() int      { return sha256.Size }
func (d *dropboxHash) BlockSize() int { return sha256.BlockSize }
