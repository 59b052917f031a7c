package odata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tidwall/gjson"
)

// ErrBadBody is wrapped by errors about a response body that is not the
// OData JSON it should be (malformed JSON, a wrong shape). It is the
// service's fault, not the network's: retrying the same request will not
// help.
var ErrBadBody = errors.New("odata: malformed response body")

// Row is one entity of a collection, as decoded JSON (numbers as
// json.Number, so 64-bit integers and decimals keep their digits).
type Row = map[string]any

// PageInfo is what a page says besides its rows.
type PageInfo struct {
	// Context is the page's @odata.context.
	Context string
	// NextLink and DeltaLink are the page's links, as sent (opaque).
	NextLink  string
	DeltaLink string
	// Deleted lists the keys of the page's deleted-entity rows.
	Deleted []string
	// Rows counts the rows handed to the callback.
	Rows int
}

// DecodePage reads an OData collection response from r, handing each row
// of `value` to row as soon as it is decoded, so a page is never held as
// one tree; the control members (@odata.nextLink, @odata.deltaLink) may
// come before or after `value`. Deleted-entity rows go to
// PageInfo.Deleted instead of row. An error from row stops the decoding
// and is returned as is. Malformed content wraps ErrBadBody; a failed read
// (the connection dropped mid-page) does not, so the caller can retry.
func DecodePage(r io.Reader, row func(Row) error) (PageInfo, error) {
	return decodePage(r, row, nil)
}

// DecodePageRaw is DecodePage handing each row over as the JSON object the
// service sent, undecoded (valid JSON, copied out of the stream), for a
// connector that reads a few properties and passes the rest through.
// Deleted-entity rows still go to PageInfo.Deleted.
func DecodePageRaw(r io.Reader, row func(json.RawMessage) error) (PageInfo, error) {
	return decodePage(r, nil, row)
}

// decodePage is DecodePage with rows decoded (row) or raw (raw).
func decodePage(r io.Reader, row func(Row) error, raw func(json.RawMessage) error) (PageInfo, error) {
	var info PageInfo
	s := newScanner(r)
	err := s.members("the page", func(key string) error {
		switch key {
		case "@odata.context":
			return s.decode(key, &info.Context)
		case "@odata.nextLink":
			return s.decode(key, &info.NextLink)
		case "@odata.deltaLink":
			return s.decode(key, &info.DeltaLink)
		case "value":
			return s.elements("value", func() error { return pageRow(s, &info, row, raw) })
		}
		_, err := s.raw(key)
		return err
	})
	return info, err
}

// pageRow reads one row of a page: each row is read whole as it was sent
// (the stream holds one row at a time), told apart from a deleted-entity
// row, then handed over raw or decoded.
func pageRow(s *scanner, info *PageInfo, row func(Row) error, raw func(json.RawMessage) error) error {
	what := fmt.Sprintf("row %d", info.Rows+len(info.Deleted)+1)
	b, err := s.raw(what)
	if err != nil {
		return err
	}
	if b[0] != '{' {
		return &bodyErr{what: what, err: errors.New("not a JSON object")}
	}
	if id, ok := DeletedKeyRaw(b); ok {
		info.Deleted = append(info.Deleted, id)
		return nil
	}
	info.Rows++
	if raw != nil {
		return raw(b)
	}
	var m Row
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return &bodyErr{what: what, err: err}
	}
	return row(m)
}

// DeletedKey recognises a deleted-entity row of a delta response and
// returns the deleted record's key. Forms: OData 4.0 JSON
// `{"@odata.context": "…/$deletedEntity", "id": …, "reason": "deleted"}`
// (Dataverse; Business Central's "reason":"changed" means the record left
// the result set, which is a deletion too), the same without the context,
// and OData 4.01's `{"@removed": {"reason": …}, "@id": "set(key)"}`. A
// row with an @odata.etag is an entity, whatever columns it has.
func DeletedKey(m Row) (string, bool) {
	var k rowMarks
	k.context, _ = m["@odata.context"].(string)
	_, k.removed = m["@removed"]
	_, k.etag = m["@odata.etag"]
	k.reason, _ = m["reason"].(string)
	k.id, _ = m["id"].(string)
	k.atID, _ = m["@id"].(string)
	return k.deleted()
}

// DeletedKeyRaw is DeletedKey of a row as the service sent it.
func DeletedKeyRaw(raw []byte) (string, bool) {
	// An entity row names none of these; only rows that do are read.
	if !bytes.Contains(raw, []byte("$deletedEntity")) && !bytes.Contains(raw, []byte("@removed")) &&
		!bytes.Contains(raw, []byte(`"reason"`)) {
		return "", false
	}
	var k rowMarks
	gjson.ParseBytes(raw).ForEach(func(key, v gjson.Result) bool {
		str := ""
		if v.Type == gjson.String {
			str = v.Str
		}
		switch key.Str {
		case "@odata.context":
			k.context = str
		case "@removed":
			k.removed = true
		case "@odata.etag":
			k.etag = true
		case "reason":
			k.reason = str
		case "id":
			k.id = str
		case "@id":
			k.atID = str
		}
		return true
	})
	return k.deleted()
}

// rowMarks are the members of a row that tell a deleted-entity row.
type rowMarks struct {
	context, reason, id, atID string
	removed, etag             bool
}

func (k rowMarks) deleted() (string, bool) {
	switch {
	case strings.HasSuffix(k.context, "/$deletedEntity"), k.removed:
	case !k.etag && (k.reason == "deleted" || k.reason == "changed"):
	default:
		return "", false
	}
	if k.id != "" {
		return k.id, true
	}
	if ref := k.atID; ref != "" {
		if i, j := strings.LastIndexByte(ref, '('), strings.LastIndexByte(ref, ')'); i >= 0 && j > i+1 {
			return strings.Trim(ref[i+1:j], "'"), true
		}
	}
	return "", false
}

// ETag returns a row's @odata.etag ("" when it has none).
func ETag(m Row) string {
	s, _ := m["@odata.etag"].(string)
	return s
}

// bodyErr is a failure to decode a response body: malformed content
// (wraps ErrBadBody) or a failed read (read set; wraps only the cause).
type bodyErr struct {
	what string
	err  error
	read bool
}

func (e *bodyErr) Error() string {
	if e.read {
		return fmt.Sprintf("odata: reading %s: %v", e.what, e.err)
	}
	return fmt.Sprintf("%v: %s: %v", ErrBadBody, e.what, e.err)
}

func (e *bodyErr) Unwrap() []error {
	if e.read {
		return []error{e.err}
	}
	return []error{ErrBadBody, e.err}
}
