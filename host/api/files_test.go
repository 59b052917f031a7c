package api

import (
	"context"
	"mime"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
)

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		name, header string
		size         int64
		want         byteRange
		unsatisfied  bool
	}{
		{"no_header_is_the_whole_file", "", 100, byteRange{}, false},
		{"a_closed_range", "bytes=10-19", 100, byteRange{10, 10, true}, false},
		{"an_open_range", "bytes=90-", 100, byteRange{90, 10, true}, false},
		{"a_suffix", "bytes=-5", 100, byteRange{95, 5, true}, false},
		{"a_suffix_longer_than_the_file_is_all_of_it", "bytes=-500", 100, byteRange{0, 100, true}, false},
		{"an_end_past_the_file_is_cut", "bytes=50-5000", 100, byteRange{50, 50, true}, false},
		{"the_unit_is_case_insensitive", "Bytes=0-0", 100, byteRange{0, 1, true}, false},
		{"a_start_at_the_end_is_unsatisfiable", "bytes=100-", 100, byteRange{}, true},
		{"a_start_beyond_the_end_is_unsatisfiable", "bytes=5000-6000", 100, byteRange{}, true},
		{"an_empty_suffix_is_unsatisfiable", "bytes=-0", 100, byteRange{}, true},
		{"any_range_of_an_empty_file_is_unsatisfiable", "bytes=0-", 0, byteRange{}, true},
		{"several_ranges_get_the_whole_file", "bytes=0-1,5-6", 100, byteRange{}, false},
		{"a_reversed_range_is_ignored", "bytes=9-1", 100, byteRange{}, false},
		{"another_unit_is_ignored", "items=0-1", 100, byteRange{}, false},
		{"garbage_is_ignored", "bytes=a-b", 100, byteRange{}, false},
		{"a_negative_start_is_ignored", "bytes=--1", 100, byteRange{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseRange(c.header, c.size)
			assert.Equal(t, c.unsatisfied, err != nil, "error %v", err)
			assert.Equal(t, c.want, got)
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=-1", "bytes=1-2", "bytes=0-1,2-3", "bytes= 7 - 9 ", "x"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		r, err := parseRange(h, size)
		if err != nil || !r.ok {
			return
		}
		if r.off < 0 || r.n <= 0 || r.off+r.n > size {
			t.Fatalf("parseRange(%q, %d) = %+v: outside the file", h, size, r)
		}
	})
}

func TestContentDisposition(t *testing.T) {
	for _, name := range []string{"report.pdf", "Ünïcødé 😀.txt", `quote" and \back.pdf`, "100% done.pdf", "日本語.docx"} {
		t.Run(name, func(t *testing.T) {
			v := contentDisposition(name)
			disp, params, err := mime.ParseMediaType(v)
			require.NoError(t, err, v)
			assert.Equal(t, "attachment", disp)
			assert.Equal(t, name, params["filename"], v)
		})
	}
	assert.Equal(t, `attachment; filename="plain.pdf"`, contentDisposition("plain.pdf"), "an ASCII name needs no filename*")
}

func TestFileETag(t *testing.T) {
	assert.Equal(t, `"abc"`, fileETag("abc", "v1"), "the hash when there is one")
	assert.Equal(t, `"v1"`, fileETag("", "v1"))
	assert.Empty(t, fileETag("", ""))
	quoted := fileETag("", `W/"17"`)
	assert.Regexp(t, `^"[A-Za-z0-9_-]+"$`, quoted, "a version that is no ETag token is digested")
	assert.True(t, etagListMatches(`"x", W/"abc"`, `"abc"`))
	assert.True(t, etagListMatches(`*`, `"abc"`))
	assert.False(t, etagListMatches(`"abd"`, `"abc"`))
}

// TestFileRoutesAlone: without a file stage the content and upload routes
// answer 503, and a file stays invisible to a user who cannot see its
// record.
func TestFileRoutesAlone(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.put("crm", record{"account", "a1", "1", map[string]any{"name": "A", "ownerid": "A-1"}})
		_, err := e.st.ApplyFiles(context.Background(), store.FileChanges{Source: "crm", Target: "crm", Files: []store.File{
			{FileID: "f1", RecordEntity: "account", RecordID: "a1", Name: "f.pdf", Size: 3, Hash: "h1"}}})
		require.NoError(t, err)
		id := store.FileMirrorID("crm", "f1")
		alice, bob := e.token("alice"), e.token("bob")
		r := e.do("GET", "/v1/files/"+id+"/content", alice, nil)
		assert.Equal(t, http.StatusServiceUnavailable, r.Code, r.Body.String())
		r = e.do("GET", "/v1/files/"+id+"/content", alice, nil, "If-None-Match", `"h1"`)
		assert.Equal(t, http.StatusNotModified, r.Code)
		r = e.do("GET", "/v1/files/"+id+"/content", bob, nil)
		assert.Equal(t, http.StatusNotFound, r.Code)
		r = e.do("POST", "/v1/sources/crm/files?entity=account&id=a1&name=x.pdf", alice, "x")
		assert.Equal(t, http.StatusServiceUnavailable, r.Code, r.Body.String())
		r = e.do("POST", "/v1/sources/crm/files?entity=contact&id=a1&name=x.pdf", alice, "x")
		assert.Equal(t, http.StatusForbidden, r.Code, "contact is read-only: %s", r.Body.String())
		r = e.do("POST", "/v1/sources/crm/files?entity=account&id=a1", alice, "x")
		assert.Equal(t, http.StatusBadRequest, r.Code)
	})
}
