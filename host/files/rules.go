package files

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// maxFileID is the longest connector file id the store keeps.
const maxFileID = 1024

// evaluate applies an entity's blob filter to a file: its mode and status
// before the quota (see the package comment).
func evaluate(rule *config.FileRule, name string, size int64) (mode, status string) {
	if rule == nil || rule.Mode != store.FileEager {
		return store.FileOnDemand, store.FileOK
	}
	if len(rule.Suffixes) > 0 {
		lower := strings.ToLower(name)
		match := false
		for _, suf := range rule.Suffixes {
			if strings.HasSuffix(lower, suf) {
				match = true
				break
			}
		}
		if !match {
			return store.FileOnDemand, store.FileFiltered
		}
	}
	if rule.MaxSize > 0 && size > rule.MaxSize {
		return store.FileOnDemand, store.FileTooLarge
	}
	return store.FileEager, store.FileOK
}

// rulesHash digests what decides a listing's outcome: the feed source,
// its entities and their blob filters. A change makes the next listing
// full, so every file is evaluated again.
func rulesHash(feed *config.Source) string {
	type rule struct {
		Entity string
		Files  *config.FileRule
	}
	v := struct {
		Feed  string
		Rules []rule
	}{Feed: feed.Name}
	for _, e := range feed.Entities {
		v.Rules = append(v.Rules, rule{e.Name, e.Files})
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// entityOf finds the feed source's entity a record ref names, matching
// case-insensitively when no name matches exactly (document stores spell
// folders as users typed them).
func entityOf(feed *config.Source, name string) *config.Entity {
	if e, ok := feed.Entity(name); ok {
		return e
	}
	for i := range feed.Entities {
		if strings.EqualFold(feed.Entities[i].Name, name) {
			return &feed.Entities[i]
		}
	}
	return nil
}

// row turns a listed file into its store row, or says it is an orphan.
func row(feed *config.Source, f sdk.File) (store.File, bool) {
	if f.ID == "" || len(f.ID) > maxFileID || f.Record.Entity == "" || f.Record.ID == "" {
		return store.File{}, false
	}
	r := store.File{FileID: f.ID, RecordEntity: f.Record.Entity, RecordID: f.Record.ID, RecordName: f.Record.Name,
		Name: f.Name, Path: f.Path, Size: max(f.Size, 0), MimeType: f.MimeType, Hash: f.Hash, Version: f.Version}
	if r.Name == "" {
		r.Name = path.Base(strings.ReplaceAll(f.ID, "\\", "/"))
	}
	if r.MimeType == "" {
		r.MimeType = mime.TypeByExtension(strings.ToLower(path.Ext(r.Name)))
		if r.MimeType == "" {
			r.MimeType = "application/octet-stream"
		}
	}
	if !f.ModifiedAt.IsZero() {
		t := f.ModifiedAt.UTC().Truncate(time.Microsecond)
		r.ModifiedAt = &t
	}
	e := entityOf(feed, f.Record.Entity)
	if e == nil {
		r.Problem = store.ProblemUnknownEntity
		r.RuleMode, r.RuleStatus = store.FileOnDemand, store.FileOK
		return r, true
	}
	r.RecordEntity = e.Name
	r.RuleMode, r.RuleStatus = evaluate(e.Files, r.Name, r.Size)
	if e.Files != nil {
		r.Quota = e.Files.Quota
	}
	return r, true
}

// CheckName refuses a device's file name that is not a plain name: empty,
// "." or "..", path separators (so no "../" traversal), control
// characters, invalid UTF-8, more than 255 bytes. Non-ASCII letters and
// emoji are fine.
func CheckName(name string) error {
	bad := ""
	switch {
	case strings.TrimSpace(name) == "":
		bad = "is empty"
	case name == "." || name == "..":
		bad = "is a relative path component"
	case strings.ContainsAny(name, `/\`):
		bad = `contains "/" or "\"`
	case !utf8.ValidString(name):
		bad = "is not valid UTF-8"
	case len(name) > 255:
		bad = "is longer than 255 bytes"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		bad = "contains control characters"
	case name != strings.TrimSpace(name):
		bad = "starts or ends with a space"
	}
	if bad == "" {
		return nil
	}
	return fmt.Errorf("%w: the name %s; it must be a plain file name, not a path", ErrInvalidName, bad)
}
