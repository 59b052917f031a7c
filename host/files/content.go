package files

import (
	"context"
	"fmt"
	"io"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// Open streams a file's content from offset, length bytes long (0: to the
// end), from the cache or through the listing source's ReadFile; the
// caller closes the reader. The sdk.File is what the back end says of the
// file now (its zero value when served from the cache): a Version other
// than f's means the content changed since the listing. A file the back
// end no longer has fails with an error of code sdk.CodeNotFound; see
// Lost.
func (s *Syncer) Open(ctx context.Context, f store.File, offset, length int64) (io.ReadCloser, sdk.File, error) {
	if s.cache != nil {
		if rc, ok := s.cache.get(cacheKey(f), f.Size, offset, length); ok {
			return rc, sdk.File{}, nil
		}
	}
	client, err := s.opts.Client(f.Source)
	if err != nil {
		return nil, sdk.File{}, fmt.Errorf("connector of %s: %w", f.Source, err)
	}
	rc, meta, err := client.ReadFile(ctx, sdk.ReadFileRequest{ID: f.FileID, Offset: offset, Length: length})
	if err != nil {
		return nil, sdk.File{}, fmt.Errorf("read file %s of %s: %w", f.FileID, f.Source, err)
	}
	whole := offset == 0 && (length == 0 || length == f.Size)
	if s.cache != nil && whole && !ContentChanged(f, meta) && f.Size <= s.cache.maxEntry() {
		rc = s.cache.fill(cacheKey(f), f.Size, rc)
	}
	return rc, meta, nil
}

// ContentChanged reports whether what the back end says of a file now
// (meta, from Open) is other content than the listing saw: another version
// that does not carry the same content hash. An empty meta changes
// nothing.
func ContentChanged(f store.File, meta sdk.File) bool {
	if meta.Version == "" || meta.Version == f.Version {
		return false
	}
	return meta.Hash == "" || meta.Hash != f.Hash
}

// Lost removes a file the back end no longer has from the mirror: devices
// get a REMOVE. It is idempotent.
func (s *Syncer) Lost(ctx context.Context, f store.File) error {
	res, err := s.st.ApplyFiles(ctx, store.FileChanges{Source: f.Source, Target: f.Target, Gone: []string{f.FileID}})
	if err != nil {
		return fmt.Errorf("forget lost file %s of %s: %w", f.FileID, f.Source, err)
	}
	s.log.Info("the back end lost a listed file; removed from the mirror", "source", f.Source, "file", f.FileID)
	s.notify(f.Target, res)
	return nil
}

// Changed asks for a listing of the source because a read found a file
// whose content changed since it was listed.
func (s *Syncer) Changed(ctx context.Context, f store.File) {
	if err := s.Trigger(ctx, f.Source, false); err != nil {
		s.log.Warn("cannot queue a listing after a changed file", "source", f.Source, "error", err)
	}
}
