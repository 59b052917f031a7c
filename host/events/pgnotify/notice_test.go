package pgnotify

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncode(t *testing.T) {
	t.Run("a_short_list_is_one_notice_naming_every_partition", func(t *testing.T) {
		out, err := encode("a", "crm", 7, []string{"account/owner=1", "product/*"})
		require.NoError(t, err)
		require.Len(t, out, 1)
		n, err := decode(out[0])
		require.NoError(t, err)
		assert.Equal(t, notice{Origin: "a", Source: "crm", Seq: 7, Partitions: []string{"account/owner=1", "product/*"}}, n)
	})
	t.Run("a_long_list_is_split_into_notices_under_the_limit", func(t *testing.T) {
		var parts []string
		for i := range 3000 {
			parts = append(parts, fmt.Sprintf("account/owner=%08d-\"quoted\"-é", i))
		}
		out, err := encode("a", "crm", 9, parts)
		require.NoError(t, err)
		assert.Greater(t, len(out), 1)
		var got []string
		for _, p := range out {
			assert.LessOrEqual(t, len(p), maxPayload)
			n, err := decode(p)
			require.NoError(t, err)
			assert.False(t, n.All)
			assert.Equal(t, int64(9), n.Seq)
			got = append(got, n.Partitions...)
		}
		assert.Equal(t, parts, got)
	})
	t.Run("a_partition_too_long_for_any_notice_becomes_a_source_wide_notice", func(t *testing.T) {
		huge := strings.Repeat("x", maxPayload)
		out, err := encode("a", "crm", 3, []string{"p", huge})
		require.NoError(t, err)
		require.Len(t, out, 2)
		first, _ := decode(out[0])
		assert.Equal(t, []string{"p"}, first.Partitions)
		wide, _ := decode(out[1])
		assert.Equal(t, notice{Origin: "a", Source: "crm", Seq: 3, All: true}, wide)
	})
	t.Run("a_partition_that_exactly_fills_a_notice_fits", func(t *testing.T) {
		empty, _ := encode("a", "crm", 3, []string{""})
		room := maxPayload - len(empty[0])
		out, err := encode("a", "crm", 3, []string{strings.Repeat("y", room)})
		require.NoError(t, err)
		require.Len(t, out, 1)
		assert.Len(t, out[0], maxPayload)
		n, _ := decode(out[0])
		assert.False(t, n.All)
	})
}

func TestDecodeRefusesANoticeWithoutSourceOrOrigin(t *testing.T) {
	for _, p := range []string{`{"origin":"a","seq":1}`, `{"source":"crm"}`, `not json`} {
		_, err := decode(p)
		assert.Error(t, err, p)
	}
}

func TestChannelIsPerSchemaAndAValidIdentifier(t *testing.T) {
	a, b := channelFor("public"), channelFor("test_0123")
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, channelFor("public"))
	assert.LessOrEqual(t, len(channelFor(strings.Repeat("s", 63))), 63)
	assert.Equal(t, strings.ToLower(a), a)
}

func FuzzDecode(f *testing.F) {
	f.Add(`{"origin":"a","source":"crm","seq":1,"partitions":["p"]}`)
	f.Add(`{"origin":"a","source":"crm","seq":1,"all":true}`)
	f.Fuzz(func(t *testing.T, payload string) {
		n, err := decode(payload)
		if err == nil && (n.Source == "" || n.Origin == "") {
			t.Fatalf("decoded %q without source or origin", payload)
		}
	})
}
