package api

import (
	"strconv"
	"unicode/utf8"
)

// appendOp appends j as a JSON.Encoder without HTML escaping writes it
// (members in order, empty optional members left out, a newline after),
// but with the fields as the mirror stores them: the hub's connector
// clients checked them as JSON objects when they arrived (sdk), so they
// are not scanned again for every device that downloads them. A device's
// changes page is mostly this.
func appendOp(b []byte, j opJSON) ([]byte, error) {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, j.Seq, 10)
	b = append(b, `,"partition":`...)
	b = appendString(b, j.Partition)
	b = append(b, `,"entity":`...)
	b = appendString(b, j.Entity)
	b = append(b, `,"id":`...)
	b = appendString(b, j.ID)
	b = append(b, `,"op":`...)
	b = appendString(b, j.Op)
	if j.Version != "" {
		b = append(b, `,"version":`...)
		b = appendString(b, j.Version)
	}
	if j.ModifiedAt != nil {
		t, err := j.ModifiedAt.MarshalJSON()
		if err != nil {
			return b, err
		}
		b = append(b, `,"modified_at":`...)
		b = append(b, t...)
	}
	if len(j.Fields) > 0 {
		b = append(b, `,"fields":`...)
		b = append(b, j.Fields...)
	}
	return append(b, '}', '\n'), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does
// without HTML escaping: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
