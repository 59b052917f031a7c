package odata

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// PageInfo is what a page says besides its rows.
type PageInfo struct {
	NextLink  string
	DeltaLink string
	// Deleted lists the ids of `$deletedEntity` rows.
	Deleted []string
	// Rows counts the rows handed to the callback.
	Rows int
}

// DecodePage reads an OData collection response from r, handing each row of
// `value` to row as it is decoded, so a page is never held as one tree.
// `$deletedEntity` rows go to PageInfo.Deleted instead.
func DecodePage(r io.Reader, row func(map[string]any) error) (PageInfo, error) {
	var info PageInfo
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return info, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return info, fmt.Errorf("odata: page: %w", err)
		}
		key, _ := tok.(string)
		switch key {
		case "@odata.nextLink":
			if err := dec.Decode(&info.NextLink); err != nil {
				return info, fmt.Errorf("odata: page: @odata.nextLink: %w", err)
			}
		case "@odata.deltaLink":
			if err := dec.Decode(&info.DeltaLink); err != nil {
				return info, fmt.Errorf("odata: page: @odata.deltaLink: %w", err)
			}
		case "value":
			if err := expectDelim(dec, '['); err != nil {
				return info, err
			}
			for dec.More() {
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					return info, fmt.Errorf("odata: page: row %d: %w", info.Rows+len(info.Deleted), err)
				}
				if id, ok := deletedID(m); ok {
					info.Deleted = append(info.Deleted, id)
					continue
				}
				info.Rows++
				if err := row(m); err != nil {
					return info, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return info, fmt.Errorf("odata: page: %w", err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return info, fmt.Errorf("odata: page: %s: %w", key, err)
			}
		}
	}
	return info, nil
}

// deletedID recognises a `$deletedEntity` row.
func deletedID(m map[string]any) (string, bool) {
	ctx, _ := m["@odata.context"].(string)
	reason, _ := m["reason"].(string)
	if !strings.HasSuffix(ctx, "/$deletedEntity") && reason != "deleted" {
		return "", false
	}
	id, ok := m["id"].(string)
	return id, ok && id != ""
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("odata: page is not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("odata: page: expected %q, got %v", want, tok)
	}
	return nil
}
