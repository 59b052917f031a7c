package odata

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestPropertyReader(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"the_property_last", `{"@odata.etag":"W/\"1\"","filename":"a.txt","documentbody":"aGVsbG8="}`, "aGVsbG8="},
		{"the_property_first_with_members_after_it", `{"documentbody":"aGVsbG8=","filename":"a.txt","nested":{"x":[1,2]}}`, "aGVsbG8="},
		{"whitespace_around_the_colon", "{ \"documentbody\" \n:\t\"abc\" }", "abc"},
		{"escaped_slashes_and_quotes", `{"documentbody":"a\/b\\c\"d"}`, `a/b\c"d`},
		{"unicode_escapes_and_surrogate_pairs", `{"documentbody":"\u002b\u00e9\ud83d\ude00"}`, "+é😀"},
		{"an_empty_string", `{"documentbody":""}`, ""},
		{"members_before_it_of_every_kind", `{"a":null,"b":true,"c":1.5,"d":[{"e":"f"}],"documentbody":"ok"}`, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := PropertyReader(strings.NewReader(tc.body), "documentbody")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != tc.want {
				t.Errorf("read %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, body string
		want       error
	}{
		{"a_missing_property", `{"filename":"a"}`, ErrNoProperty},
		{"a_null_property", `{"documentbody":null}`, ErrNoProperty},
		{"not_an_object", `["documentbody"]`, ErrBadBody},
		{"a_number_where_the_string_should_be", `{"documentbody":12}`, ErrBadBody},
		{"an_html_page", `<html>`, ErrBadBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := PropertyReader(strings.NewReader(tc.body), "documentbody")
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("a_string_cut_short_is_an_error", func(t *testing.T) {
		r, err := PropertyReader(strings.NewReader(`{"documentbody":"abc`), "documentbody")
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err == nil {
			t.Error("a truncated string read without error")
		}
	})
}

func TestPropertyReaderStreamsALargeDocument(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	enc, _ := json.Marshal(map[string]any{"annotationid": "x", "documentbody": base64.StdEncoding.EncodeToString(content)})
	r, err := PropertyReader(bytes.NewReader(enc), "documentbody")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, r))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("decoded %d bytes (%v), want %d", len(got), err, len(content))
	}
}
