package dropbox

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synchub/synchub/sdk"
)

// cursorPrefix marks this connector's cursors: "dbx1:<root, base64>:<Dropbox cursor>".
const cursorPrefix = "dbx1:"

// metadata is a list_folder entry or a FileMetadata (upload and download
// results, which carry no ".tag").
type metadata struct {
	Tag            string `json:".tag"`
	Name           string `json:"name"`
	ID             string `json:"id"`
	ServerModified string `json:"server_modified"`
	Rev            string `json:"rev"`
	Size           int64  `json:"size"`
	PathLower      string `json:"path_lower"`
	PathDisplay    string `json:"path_display"`
	ContentHash    string `json:"content_hash"`
}

type listResult struct {
	Entries []metadata `json:"entries"`
	Cursor  string     `json:"cursor"`
	HasMore bool       `json:"has_more"`
}

type listArg struct {
	Path                        string `json:"path"`
	Recursive                   bool   `json:"recursive"`
	IncludeDeleted              bool   `json:"include_deleted"`
	IncludeNonDownloadableFiles bool   `json:"include_non_downloadable_files"`
	Limit                       int    `json:"limit"`
}

// ListFiles lists the files under the root: in full for cursor "", else the
// changes since the cursor. See the package comment for ids, deletions and
// orphans.
func (c *Connector) ListFiles(ctx context.Context, req sdk.ListFilesRequest, send func(sdk.FilePage) error) error {
	st, err := c.current()
	if err != nil {
		return err
	}
	var res listResult
	if req.Cursor == "" {
		err = st.listRoot(ctx, &res)
	} else {
		var cur string
		if cur, err = st.unwrapCursor(req.Cursor); err == nil {
			err = st.listContinue(ctx, cur, &res)
		}
	}
	for page := 1; ; page++ {
		if err != nil {
			return withContext(err, "list files page "+strconv.Itoa(page))
		}
		pg := st.filePage(res, req.Entities, c)
		if err := send(pg); err != nil || pg.Done {
			return err
		}
		err = st.listContinue(ctx, res.Cursor, &res)
	}
}

// listRoot starts a full listing, creating the root when it is missing (a
// Dropbox nobody has put files in yet).
func (st *configured) listRoot(ctx context.Context, res *listResult) error {
	arg := listArg{Path: st.root, Recursive: true, IncludeDeleted: true, Limit: st.cfg.PageLimit}
	err := st.rpc(ctx, "files/list_folder", arg, res)
	if summary, ok := endpointError(err); !ok || !hasTag(summary, "path/not_found") || st.root == "" {
		return err
	}
	if err := st.rpc(ctx, "files/create_folder_v2", map[string]any{"path": st.root, "autorename": false}, nil); err != nil {
		if summary, ok := endpointError(err); !ok || !hasTag(summary, "path/conflict/folder") {
			return withContext(err, "create the root folder "+st.root)
		}
	}
	return st.rpc(ctx, "files/list_folder", arg, res)
}

// listContinue fetches the page after a Dropbox cursor. A cursor Dropbox
// reset, or one whose folder is gone, expires: the host lists in full.
func (st *configured) listContinue(ctx context.Context, cursor string, res *listResult) error {
	*res = listResult{}
	err := st.rpc(ctx, "files/list_folder/continue", map[string]string{"cursor": cursor}, res)
	if summary, ok := endpointError(err); ok && (hasTag(summary, "reset") || hasTag(summary, "path/not_found")) {
		return &sdk.Error{Code: sdk.CodeCursorExpired, Summary: "cursor expired",
			Detail: "dropbox answered " + trimSummary(summary) + "; list the files again in full", Err: err}
	}
	return err
}

// filePage turns one Dropbox page into a FilePage, in the entries' order.
func (st *configured) filePage(res listResult, entities []string, c *Connector) sdk.FilePage {
	pg := sdk.FilePage{Cursor: st.wrapCursor(res.Cursor), Done: !res.HasMore}
	wanted := func(entity string) bool {
		return len(entities) == 0 || slices.ContainsFunc(entities, func(e string) bool { return strings.EqualFold(e, entity) })
	}
	for _, e := range res.Entries {
		if e.PathLower == "" {
			c.log.Warn("dropbox entry without path_lower ignored", "tag", e.Tag, "name", e.Name)
			continue
		}
		p, inRoot := st.place(e.PathDisplay, e.PathLower)
		if !inRoot {
			continue
		}
		switch e.Tag {
		case "deleted":
			// A file or a whole folder: the host removes the id and
			// everything under it (see sdk.FilePage.Deleted).
			if p.entity == "" || wanted(p.entity) {
				pg.Deleted = append(pg.Deleted, e.PathLower)
			}
		case "file":
			switch {
			case !wanted(p.entity):
			case !p.file:
				pg.Orphans = append(pg.Orphans, displayOr(e))
			default:
				pg.Files = append(pg.Files, st.toFile(e, p, c))
			}
		}
	}
	return pg
}

func displayOr(e metadata) string {
	if e.PathDisplay != "" {
		return e.PathDisplay
	}
	return e.PathLower
}

// toFile converts a file's metadata placed on a record.
func (st *configured) toFile(e metadata, p placement, c *Connector) sdk.File {
	mod, err := time.Parse(time.RFC3339, e.ServerModified)
	if err != nil {
		c.log.Warn("dropbox file with unreadable server_modified", "path", e.PathLower, "server_modified", e.ServerModified)
	}
	return sdk.File{ID: e.PathLower, Name: e.Name, Size: e.Size, MimeType: mimeType(e.Name), ModifiedAt: mod.UTC(),
		Hash: e.ContentHash, Version: e.Rev, Record: p.record, Path: displayOr(e)}
}

// wrapCursor ties a Dropbox cursor to the root it lists, so a cursor kept
// across a change of root is refused instead of listing the old one.
func (st *configured) wrapCursor(cursor string) string {
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(st.rootLower)) + ":" + cursor
}

func (st *configured) unwrapCursor(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	root, cursor, ok2 := strings.Cut(rest, ":")
	rootRaw, err := base64.RawURLEncoding.DecodeString(root)
	switch {
	case !ok || !ok2 || err != nil || cursor == "":
		return "", &sdk.Error{Code: sdk.CodeCursorExpired, Summary: "cursor expired", Detail: "not a cursor of the dropbox connector; list the files again in full",
			Err: errors.New("malformed cursor")}
	case string(rootRaw) != st.rootLower:
		return "", &sdk.Error{Code: sdk.CodeCursorExpired, Summary: "cursor expired",
			Detail: "the cursor lists " + orNone(string(rootRaw)) + " but the root is now " + orNone(st.rootLower) + "; list the files again in full"}
	}
	return cursor, nil
}
