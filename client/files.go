package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gorm.io/gorm/clause"
)

// maxFileAttempts bounds how often one sync retries a failing eager file;
// the next sync tries again.
const maxFileAttempts = 3

// FileInfo is a file attached to a record, with its local state.
type FileInfo struct {
	ID           string
	Source       string
	RecordEntity string
	RecordID     string
	Name         string
	MimeType     string
	Size         int64
	Hash         string
	Version      string
	ModifiedAt   *time.Time
	// Eager files are fetched during sync; others when asked (GetFile).
	Eager bool
	// State is "" (not downloaded), queued, partial, done or error.
	State string
	// Downloaded is the number of bytes on disk (partial or done).
	Downloaded int64
	// LocalPath is the content's file once State is done.
	LocalPath string
	Error     string
}

// contentPath is where a file's verified content lives; partialPath where
// an unfinished download grows. Ids are hashed: they may hold any bytes.
func (c *Client) contentPath(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(c.filesDir, hex.EncodeToString(sum[:16]))
}

func (c *Client) partialPath(id string) string { return c.contentPath(id) + ".part" }

// applyFileOp mirrors a `_file` op: metadata upserted (a new version
// queues an eager file again and drops the old content), a remove deletes
// the metadata and the content.
func (p *pageApply) applyFileOp(op wireOp) error {
	var old []fileRow
	if err := p.tx.Where("id = ?", op.ID).Limit(1).Find(&old).Error; err != nil {
		return err
	}
	if op.Op == "remove" {
		p.removeFiles = append(p.removeFiles, p.c.contentPath(op.ID), p.c.partialPath(op.ID))
		return p.tx.Where("id = ?", op.ID).Delete(&fileRow{}).Error
	}
	if op.Op != "put" {
		return fmt.Errorf("unknown op %q", op.Op)
	}
	m, err := parseFileMeta(op.Fields)
	if err != nil {
		return err
	}
	row := fileRow{ID: op.ID, Source: p.src, RecordEntity: m.RecordEntity, RecordID: m.RecordID, Partition: op.Partition,
		Name: m.Name, MimeType: m.MimeType, Size: m.Size, Hash: m.Hash, Version: firstNonEmpty(op.Version, m.Version),
		ModifiedAt: firstTime(op.ModifiedAt, m.ModifiedAt), Eager: m.Eager, Gen: p.gen}
	same := len(old) > 0 && old[0].Version == row.Version && old[0].Hash == row.Hash && old[0].Size == row.Size
	switch {
	case same:
		row.State, row.Offset, row.ETag, row.Error, row.Attempts = old[0].State, old[0].Offset, old[0].ETag, old[0].Error, old[0].Attempts
		if row.Eager && row.State == fileRemote {
			row.State = fileQueued
		}
	default:
		if len(old) > 0 {
			p.removeFiles = append(p.removeFiles, p.c.contentPath(op.ID), p.c.partialPath(op.ID))
		}
		if row.Eager {
			row.State = fileQueued
		}
	}
	return p.tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error
}

func firstTime(ts ...*time.Time) *time.Time {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}

// Files lists the files of a record.
func (c *Client) Files(ctx context.Context, source, entity, id string) ([]FileInfo, error) {
	source, err := c.source(ctx, source)
	if err != nil {
		return nil, err
	}
	var rows []fileRow
	if err := c.db.WithContext(ctx).Where("source = ? AND record_entity = ? AND record_id = ?", source, entity, id).
		Order("name, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("files of %s/%s/%s: %w", source, entity, id, err)
	}
	out := make([]FileInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, c.fileInfo(r))
	}
	return out, nil
}

// File returns one file's metadata and state.
func (c *Client) File(ctx context.Context, fileID string) (FileInfo, error) {
	r, err := c.fileRow(ctx, fileID)
	if err != nil {
		return FileInfo{}, err
	}
	return c.fileInfo(*r), nil
}

func (c *Client) fileRow(ctx context.Context, fileID string) (*fileRow, error) {
	var rows []fileRow
	if err := c.db.WithContext(ctx).Where("id = ?", fileID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("file %s: %w", fileID, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("file %s: %w", fileID, ErrNotFound)
	}
	return &rows[0], nil
}

func (c *Client) fileInfo(r fileRow) FileInfo {
	fi := FileInfo{ID: r.ID, Source: r.Source, RecordEntity: r.RecordEntity, RecordID: r.RecordID, Name: r.Name,
		MimeType: r.MimeType, Size: r.Size, Hash: r.Hash, Version: r.Version, ModifiedAt: r.ModifiedAt, Eager: r.Eager,
		State: r.State, Downloaded: r.Offset, Error: r.Error}
	if r.State == fileDone {
		fi.LocalPath = c.contentPath(r.ID)
		fi.Downloaded = r.Size
	}
	return fi
}

// GetFile writes a file's content to w: from disk when it was downloaded,
// else fetched now (resuming a partial download with Range) and kept.
func (c *Client) GetFile(ctx context.Context, fileID string, w io.Writer) error {
	r, err := c.fileRow(ctx, fileID)
	if err != nil {
		return err
	}
	if r.State != fileDone || !fileExists(c.contentPath(fileID)) {
		if _, err := c.downloadFile(ctx, *r, nil); err != nil {
			return err
		}
	}
	f, err := os.Open(c.contentPath(fileID))
	if err != nil {
		return fmt.Errorf("file %s: %w", fileID, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("file %s: copy: %w", fileID, err)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// lockFile serialises work on one file (a sync's worker and GetFile).
func (c *Client) lockFile(id string) func() {
	c.fileLocksMu.Lock()
	if c.fileLocks == nil {
		c.fileLocks = map[string]*fileLock{}
	}
	l := c.fileLocks[id]
	if l == nil {
		l = &fileLock{}
		c.fileLocks[id] = l
	}
	l.refs++
	c.fileLocksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		c.fileLocksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(c.fileLocks, id)
		}
		c.fileLocksMu.Unlock()
	}
}

type fileLock struct {
	mu   sync.Mutex
	refs int
}

// downloadFile fetches a file into its partial file, resuming from what is
// on disk with Range (and If-Range, so a changed file restarts), verifies
// size and hash, and moves it into place. The state is saved whatever
// happens, so an interruption resumes next time. progress, when set, gets
// byte counts.
func (c *Client) downloadFile(ctx context.Context, r fileRow, progress func(n int64)) (int64, error) {
	unlock := c.lockFile(r.ID)
	defer unlock()
	// Re-read under the lock: another worker may have finished it.
	cur, err := c.fileRow(ctx, r.ID)
	if err != nil {
		return 0, err
	}
	r = *cur
	if r.State == fileDone && fileExists(c.contentPath(r.ID)) {
		return 0, nil
	}
	var got int64
	for attempt := 0; attempt < 2; attempt++ {
		n, err := c.fetchInto(ctx, &r, progress)
		got += n
		if err == nil {
			err = c.finishFile(&r)
		}
		if err == nil {
			return got, c.saveFileState(ctx, r, fileDone, "")
		}
		if errors.Is(err, ErrHashMismatch) && attempt == 0 {
			c.log.Warn("file content did not match its hash: downloading again", "file", r.ID, "error", err)
			_ = os.Remove(c.partialPath(r.ID))
			r.ETag = ""
			continue
		}
		state := filePartial
		if errors.Is(err, ErrHashMismatch) || isNotFoundAPI(err) {
			state = fileFailed
			_ = os.Remove(c.partialPath(r.ID))
		} else if !fileExists(c.partialPath(r.ID)) {
			state = r.State
			if state == fileDone || state == filePartial {
				state = fileQueued
			}
		}
		r.Attempts++
		if e := c.saveFileState(context.WithoutCancel(ctx), r, state, err.Error()); e != nil {
			c.log.Warn("save file state", "file", r.ID, "error", e)
		}
		return got, fmt.Errorf("download file %s (%s): %w", r.ID, r.Name, err)
	}
	return got, nil
}

// fetchInto appends the missing content to the partial file.
func (c *Client) fetchInto(ctx context.Context, r *fileRow, progress func(int64)) (int64, error) {
	part := c.partialPath(r.ID)
	var offset int64
	if fi, err := os.Stat(part); err == nil {
		offset = fi.Size()
	}
	if offset == 0 {
		r.ETag = ""
	}
	resp, err := c.fetchContent(ctx, r.ID, offset, r.ETag)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	flag := os.O_CREATE | os.O_WRONLY
	switch resp.Status {
	case http.StatusRequestedRangeNotSatisfiable:
		if offset > 0 && (resp.Total == offset || r.Size == offset) {
			return 0, nil // already whole: verify
		}
		_ = os.Remove(part)
		return 0, fmt.Errorf("hub refused range from %d (length %d)", offset, resp.Total)
	case http.StatusPartialContent:
		if resp.Start != offset {
			return 0, fmt.Errorf("hub sent range from %d, asked %d", resp.Start, offset)
		}
		flag |= os.O_APPEND
	default: // 200: the whole content, from the start
		flag |= os.O_TRUNC
		offset = 0
	}
	if resp.ETag != "" {
		r.ETag = resp.ETag
	}
	f, err := os.OpenFile(part, flag, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", part, err)
	}
	n, copyErr := io.Copy(f, &countingReader{r: resp.Body, fn: progress})
	if err := f.Close(); err != nil && copyErr == nil {
		copyErr = err
	}
	r.Offset = offset + n
	if copyErr != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		return n, fmt.Errorf("interrupted at byte %d: %w", r.Offset, copyErr)
	}
	if resp.Total >= 0 && r.Offset != resp.Total {
		return n, fmt.Errorf("interrupted at byte %d of %d", r.Offset, resp.Total)
	}
	return n, nil
}

// finishFile verifies the partial file and moves it into place.
func (c *Client) finishFile(r *fileRow) error {
	part := c.partialPath(r.ID)
	fi, err := os.Stat(part)
	if err != nil {
		return fmt.Errorf("stat %s: %w", part, err)
	}
	if r.Size > 0 && fi.Size() != r.Size {
		return fmt.Errorf("%w: %d bytes, metadata says %d", ErrHashMismatch, fi.Size(), r.Size)
	}
	if r.Hash != "" {
		ok, known, err := verifyHash(part, r.Hash)
		if err != nil {
			return err
		}
		if !known {
			c.log.Debug("unknown hash format: content not verified", "file", r.ID, "hash", r.Hash)
		} else if !ok {
			return fmt.Errorf("%w: expected %s", ErrHashMismatch, r.Hash)
		}
	}
	if err := os.Rename(part, c.contentPath(r.ID)); err != nil {
		return fmt.Errorf("keep %s: %w", r.ID, err)
	}
	r.Offset = fi.Size()
	return nil
}

func (c *Client) saveFileState(ctx context.Context, r fileRow, state, msg string) error {
	return c.db.WithContext(ctx).Model(&fileRow{}).Where("id = ?", r.ID).Updates(map[string]any{
		"state": state, "offset": r.Offset, "e_tag": r.ETag, "error": msg, "attempts": r.Attempts,
	}).Error
}

type countingReader struct {
	r  io.Reader
	fn func(int64)
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if n > 0 && cr.fn != nil {
		cr.fn(int64(n))
	}
	return n, err
}

// fileQueue is the sync's file phase: queued uploads first, then the eager
// downloads by a pool of workers. A file that fails is marked on its row
// and retried next sync; only a lost hub or a cancelled context fails the
// phase.
func (c *Client) fileQueue(ctx context.Context, rep *FileReport, emit func(Event)) (err error) {
	start := c.now()
	defer func() {
		rep.Time = c.now().Sub(start)
		summary := fmt.Sprintf("FileSync Uploaded=%d Downloaded=%d Failed=%d Bytes=%d Workers=%d TotalTime=%s",
			rep.Uploaded, rep.Downloaded, rep.Failed, rep.Bytes, c.opts.FileWorkers, rep.Time.Round(time.Millisecond))
		c.writeLog(ctx, start, "", "FileSync", summary, rep.Time, err)
		ev := Event{Phase: PhaseFiles, Step: "end", Done: int64(rep.Downloaded), Bytes: rep.Bytes, Message: summary}
		if err != nil {
			ev.Error = err.Error()
		}
		emit(ev)
	}()
	if err := c.uploadFiles(ctx, rep); err != nil {
		return err
	}
	var todo []fileRow
	if err := c.db.WithContext(ctx).Where("eager = ? AND (state IN ? OR (state = ? AND attempts < ?))", true,
		[]string{fileQueued, filePartial}, fileFailed, maxFileAttempts).Order("size").Find(&todo).Error; err != nil {
		return fmt.Errorf("file queue: %w", err)
	}
	if len(todo) == 0 {
		return nil
	}
	emit(Event{Phase: PhaseFiles, Step: "start", Total: int64(len(todo))})
	jobs := make(chan fileRow)
	var (
		mu    sync.Mutex
		fatal error
		wg    sync.WaitGroup
	)
	for range min(c.opts.FileWorkers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				n, err := c.downloadFile(ctx, f, nil)
				mu.Lock()
				rep.Bytes += n
				if err != nil {
					rep.Failed++
					c.log.Warn("file download failed", "file", f.ID, "name", f.Name, "error", err)
					if fatalErr(err) && fatal == nil {
						fatal = err
					}
				} else {
					rep.Downloaded++
				}
				done := rep.Downloaded + rep.Failed
				bytes := rep.Bytes
				mu.Unlock()
				emit(Event{Phase: PhaseFiles, Step: "progress", Done: int64(done), Total: int64(len(todo)), Bytes: bytes})
			}
		}()
	}
feed:
	for _, f := range todo {
		mu.Lock()
		stop := fatal != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case jobs <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if fatal != nil {
		return fmt.Errorf("file queue: %w", fatal)
	}
	return ctx.Err()
}

func fatalErr(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrSessionExpired) || errors.Is(err, ErrNotLoggedIn) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
