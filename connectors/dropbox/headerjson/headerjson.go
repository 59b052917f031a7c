// Package headerjson encodes JSON that is safe in an HTTP header, as Dropbox
// requires for the Dropbox-API-Arg request header and sends in the
// Dropbox-API-Result response header: every character at or above U+007F is
// escaped as \uXXXX (a UTF-16 surrogate pair above U+FFFF), so the header is
// pure printable ASCII. See "Request and response formats" at
// https://www.dropbox.com/developers/documentation/http/documentation and
// dropbox-sdk-go's HTTPHeaderSafeJSON.
//
// It knows JSON and headers only, nothing of Dropbox's routes.
package headerjson

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Marshal encodes v as JSON and escapes every byte a header may not carry.
func Marshal(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode header JSON: %w", err)
	}
	return Escape(raw), nil
}

// Escape rewrites valid JSON so that every rune at or above U+007F is a
// \uXXXX escape. Such runes can only occur inside JSON strings, where the
// escape means the same.
func Escape(raw []byte) string {
	out := make([]byte, 0, len(raw)+16)
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < 0x7f {
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		i += size
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
			continue
		}
		out = fmt.Appendf(out, `\u%04x`, r)
	}
	return string(out)
}

// Safe reports whether s may be sent as a Dropbox-API-Arg header: printable
// ASCII only (spaces allowed).
func Safe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
