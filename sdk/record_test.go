package sdk

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// fieldsCorpus is JSON that decodeFieldsJSON must decode exactly as
// encoding/json (UseNumber) does, or refuse as it does.
var fieldsCorpus = []string{
	`{}`,
	` { "a" : 1 } `,
	`{"name":"Contoso","revenue":12345678901234567890.125,"id":9007199254740993,"big":1e400,"neg":-0.5e-3}`,
	`{"ok":true,"no":false,"none":null,"list":[],"obj":{},"nested":{"a":[1,"x",{"b":null}]}}`,
	`{"esc":"line\nbreak \"quoted\" \\ \/ \u00e9 \ud83d\ude00","lone":"\ud800","plain":"São 😀"}`,
	`{"dup":1,"dup":"second"}`,
	`{"k\u0065y":"escaped key","":"empty key"}`,
	"{\"bad\":\"\xff\xfe\",\"ok\":1}",
	"{\"bad\xff\":1}",
	`{"ctl":"tab	inside"}`,
	`{"a":01}`,
	`{"a":1,}`,
	`{"a":1} {"b":2}`,
	`{"a":1}]`,
	`{"a":"\x"}`,
	`{"a":.5}`,
	`{"a":1.}`,
	`{"a":-}`,
	`{"a":[1,2,]}`,
	`[1,2]`,
	`"text"`,
	`null`,
	`42`,
	``,
	`{`,
	`{"a":tru}`,
	`{"a":NaN}`,
}

func sameDecode(t *testing.T, in string) {
	t.Helper()
	show := in
	if len(show) > 200 {
		show = show[:200] + "…"
	}
	got, gotErr := decodeFieldsJSON([]byte(in))
	want, wantErr := decodeFieldsStd([]byte(in))
	if (gotErr != nil) != (wantErr != nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: error %v, encoding/json says %v", show, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", show, got, want)
	}
}

// TestFieldsDecodeAsEncodingJSON: the one-walk decoder gives what
// encoding/json gives (json.Number, []any, map[string]any, repeated keys,
// escapes, bad UTF-8), and the same errors.
func TestFieldsDecodeAsEncodingJSON(t *testing.T) {
	for _, in := range fieldsCorpus {
		sameDecode(t, in)
	}
	// Nesting at encoding/json's limit, and one level beyond it.
	for _, depth := range []int{10000, 10001} {
		sameDecode(t, `{"a":`+strings.Repeat("[", depth-1)+strings.Repeat("]", depth-1)+`}`)
	}
	m, err := decodeFieldsJSON([]byte(`{"n":12345678901234567890.125,"l":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m["n"].(json.Number); !ok || n.String() != "12345678901234567890.125" {
		t.Errorf("a number decodes to %#v, want its json.Number", m["n"])
	}
}

// TestFieldsDecodeKeepsNoAlias: the decoded strings do not share the
// caller's bytes, which it may reuse.
func TestFieldsDecodeKeepsNoAlias(t *testing.T) {
	raw := []byte(`{"name":"Contoso"}`)
	m, err := decodeFieldsJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	copy(raw, `{"name":"XXXXXXX"}`)
	if m["name"] != "Contoso" {
		t.Errorf("the decoded value changed with the input's bytes: %q", m["name"])
	}
}

func FuzzFieldsDecodeAsEncodingJSON(f *testing.F) {
	for _, in := range fieldsCorpus {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) { sameDecode(t, in) })
}

func BenchmarkDecodeFields(b *testing.B) {
	raw := []byte(`{"address1_city":"Lisbon","description":"Visited on site; follow up on the renewal and the new service contract. Visited on site; follow up on the renewal and the new service contract. Visited on site; follow up on the renewal and the new service contract. Visited on site; follow up on the renewal and the new service contract. Visited on site; follow up on the renewal and the new service contract. Visited on site; follow up on the renewal and the new service contract. ","emailaddress1":"device1@bench.example","name":"Bench Device Account 1","telephone1":"+1-555-0001","revenue":1234.5}`)
	for _, c := range []struct {
		name string
		fn   func([]byte) (map[string]any, error)
	}{{"walk", decodeFieldsJSON}, {"encoding-json", decodeFieldsStd}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.fn(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
