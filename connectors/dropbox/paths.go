package dropbox

import (
	"mime"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/synchub/synchub/sdk"
)

// placement is where a path sits in the folder convention.
type placement struct {
	entity string        // "" when the path is not inside an entity folder
	record sdk.RecordRef // zero unless the path is a record's file
	file   bool          // <root>/<entity>/<record folder>/<file>
}

// place parses a path_display under the root (lower-case comparison on
// lower, the matching path_lower). inRoot is false for paths outside it.
func (st *configured) place(display, lower string) (p placement, inRoot bool) {
	if !strings.HasPrefix(lower, "/") || !under(lower, st.rootLower) || lower == st.rootLower {
		return p, lower == st.rootLower && lower != ""
	}
	// path_display and path_lower have the same components; take the
	// displayed ones, whose case is the user's.
	lparts, dparts := strings.Split(lower, "/"), strings.Split(display, "/")
	if len(dparts) != len(lparts) {
		dparts = lparts
	}
	parts := dparts[strings.Count(st.rootLower, "/")+1:]
	if len(parts) == 0 || slices.Contains(parts, "") {
		return p, true // malformed ("//", a trailing "/"): nobody's
	}
	p.entity = parts[0]
	if len(parts) != 3 {
		return p, true
	}
	folder := parts[1]
	i := strings.LastIndexByte(folder, '_')
	if i < 0 || i == len(folder)-1 {
		return p, true
	}
	p.record = sdk.RecordRef{Entity: parts[0], ID: folder[i+1:], Name: folder[:i]}
	p.file = true
	return p, true
}

// under reports whether p is dir or inside it ("" is the whole Dropbox).
func under(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

// recordFolder is the folder of a record's files:
// <root>/<entity>/<record name>_<record id>.
func (st *configured) recordFolder(ref sdk.RecordRef) (string, error) {
	if err := checkSegment(ref.Entity, "record entity"); err != nil {
		return "", err
	}
	if err := checkSegment(ref.ID, "record id"); err != nil {
		return "", err
	}
	if strings.Contains(ref.ID, "_") {
		return "", &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: ref.Entity,
			Summary: "a record id with an underscore cannot be told apart in a <name>_<id> folder name", Detail: ref.ID}
	}
	return st.root + "/" + ref.Entity + "/" + folderName(ref.Name) + "_" + ref.ID, nil
}

// folderName makes a record's display name usable as part of a folder
// name: separators become "-", control characters go, and leading or
// trailing spaces and dots (which Dropbox's desktop clients mishandle) are
// trimmed. It may be empty.
func folderName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			b.WriteByte('-')
		case unicode.IsControl(r):
		default:
			b.WriteRune(r)
		}
	}
	return strings.Trim(b.String(), " .")
}

// checkSegment refuses what cannot be one path component: empty, "." or
// "..", separators, control characters, more than 255 bytes. It guards
// against path traversal from a device's file name.
func checkSegment(s, what string) error {
	bad := ""
	switch {
	case strings.TrimSpace(s) == "":
		bad = "is empty"
	case s == "." || s == "..":
		bad = "is a relative path component"
	case strings.ContainsAny(s, `/\`):
		bad = `contains "/" or "\"`
	case len(s) > 255:
		bad = "is longer than 255 bytes"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		bad = "contains control characters"
	}
	if bad == "" {
		return nil
	}
	return &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: "the " + what + " " + bad + "; it must be a plain name, not a path", Detail: s}
}

// checkID makes sure a file id names a file under the root: a path_lower
// this connector handed out, not a way to read elsewhere in the Dropbox.
func (st *configured) checkID(id string) error {
	if !strings.HasPrefix(id, "/") || !under(id, st.rootLower) || id == st.rootLower || hasDotSegment(id) || strings.Contains(id, "//") {
		return &sdk.Error{Code: sdk.CodeNotFound, Summary: "not a file of this dropbox source", Detail: id}
	}
	return nil
}

// mimeTypes covers what devices meet most, so the answer does not depend
// on the machine's mime.types.
var mimeTypes = map[string]string{
	".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
	".gif": "image/gif", ".heic": "image/heic", ".webp": "image/webp", ".txt": "text/plain",
	".csv": "text/csv", ".doc": "application/msword", ".xls": "application/vnd.ms-excel",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".zip":  "application/zip", ".mp4": "video/mp4", ".mov": "video/quicktime", ".json": "application/json",
	".xml": "application/xml", ".html": "text/html", ".eml": "message/rfc822", ".msg": "application/vnd.ms-outlook",
}

// mimeType guesses a file's type from its extension.
func mimeType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := mimeTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
