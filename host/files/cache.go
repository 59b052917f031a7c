package files

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/host/store"
)

// cache is the on-disk content cache: whole files, named by a digest of
// what identifies their content, evicted least recently used first once
// they take more than max bytes. Recency survives restarts through the
// files' modification times. It is local to one hub instance and only an
// optimisation: every miss is served from the back end.
type cache struct {
	dir string
	max int64
	log hclog.Logger

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent first
	byKey map[string]*list.Element
	size  int64
}

type cacheEntry struct {
	key  string
	size int64
}

// openCache indexes dir (created when missing), dropping partial files
// left by a crash, and evicts down to max.
func openCache(dir string, max int64, log hclog.Logger) (*cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: create the content cache: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("files: read the content cache: %w", err)
	}
	type found struct {
		key  string
		size int64
		mod  time.Time
	}
	var all []found
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), ".tmp") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		info, err := e.Info()
		if err != nil || len(e.Name()) != 64 {
			continue
		}
		all = append(all, found{e.Name(), info.Size(), info.ModTime()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod.Before(all[j].mod) })
	c := &cache{dir: dir, max: max, log: log, lru: list.New(), byKey: map[string]*list.Element{}}
	for _, f := range all {
		c.byKey[f.key] = c.lru.PushFront(&cacheEntry{f.key, f.size})
		c.size += f.size
	}
	c.mu.Lock()
	c.evict()
	c.mu.Unlock()
	return c, nil
}

// cacheKey names a file's content: its listing source and hash, or its id
// and version when the back end gives no hash.
func cacheKey(f store.File) string {
	id := "h\x00" + f.Hash
	if f.Hash == "" {
		id = "v\x00" + f.FileID + "\x00" + f.Version
	}
	sum := sha256.Sum256([]byte(f.Source + "\x00" + id))
	return hex.EncodeToString(sum[:])
}

// maxEntry is the largest file the cache takes: a quarter of it, so one
// file cannot flush everything else.
func (c *cache) maxEntry() int64 { return c.max / 4 }

// get opens a cached file of size bytes at offset, length bytes long (0:
// to the end).
func (c *cache) get(key string, size, offset, length int64) (io.ReadCloser, bool) {
	c.mu.Lock()
	el, ok := c.byKey[key]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	path := filepath.Join(c.dir, key)
	f, err := os.Open(path)
	if err == nil {
		var info os.FileInfo
		if info, err = f.Stat(); err == nil && info.Size() != size {
			err = fmt.Errorf("cached file has %d bytes, want %d", info.Size(), size)
		}
	}
	if err == nil {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		c.log.Warn("dropping an unusable cache entry", "key", key, "error", err)
		c.drop(key)
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	var r io.Reader = f
	if length > 0 {
		r = io.LimitReader(f, length)
	}
	return readCloser{r, f}, true
}

// fill returns rc, copying what is read into the cache; the copy is kept
// only when rc ends after exactly size bytes.
func (c *cache) fill(key string, size int64, rc io.ReadCloser) io.ReadCloser {
	tmp, err := os.CreateTemp(c.dir, key+".*.tmp")
	if err != nil {
		c.log.Warn("cannot cache a file", "error", err)
		return rc
	}
	return &filler{rc: rc, c: c, key: key, tmp: tmp, want: size}
}

func (c *cache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
}

// add takes a complete temp file in as key.
func (c *cache) add(key, tmp string, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		_ = os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, key)); err != nil {
		c.log.Warn("cannot cache a file", "error", err)
		_ = os.Remove(tmp)
		return
	}
	c.byKey[key] = c.lru.PushFront(&cacheEntry{key, size})
	c.size += size
	c.evict()
}

// evict removes least recently used files until the cache fits; c.mu is
// held. A reader of an evicted file keeps its open descriptor.
func (c *cache) evict() {
	for c.size > c.max {
		el := c.lru.Back()
		if el == nil {
			return
		}
		c.remove(el)
	}
}

func (c *cache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.byKey, e.key)
	c.size -= e.size
	if err := os.Remove(filepath.Join(c.dir, e.key)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Warn("cannot evict a cached file", "key", e.key, "error", err)
	}
}

// filler copies a stream into a cache temp file as it is read.
type filler struct {
	rc         io.ReadCloser
	c          *cache
	key        string
	tmp        *os.File
	want, got  int64
	failed     bool
	doneOrGone bool
}

func (f *filler) Read(p []byte) (int, error) {
	n, err := f.rc.Read(p)
	if n > 0 && !f.failed && !f.doneOrGone {
		if _, werr := f.tmp.Write(p[:n]); werr != nil {
			f.failed = true
		}
		f.got += int64(n)
	}
	if err == io.EOF && !f.doneOrGone {
		f.finish()
	}
	return n, err
}

// finish keeps the copy when it is complete.
func (f *filler) finish() {
	f.doneOrGone = true
	name := f.tmp.Name()
	cerr := f.tmp.Close()
	if f.failed || cerr != nil || f.got != f.want {
		_ = os.Remove(name)
		return
	}
	f.c.add(f.key, name, f.got)
}

func (f *filler) Close() error {
	if !f.doneOrGone {
		f.doneOrGone = true
		f.tmp.Close()
		_ = os.Remove(f.tmp.Name())
	}
	return f.rc.Close()
}

type readCloser struct {
	io.Reader
	io.Closer
}
