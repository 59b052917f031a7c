package emulator

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kv is one member of an ordered JSON object. Dataverse writes annotations
// before the property they describe and the primary key last; a Go map would
// lose that order, so responses are built from obj values instead.
type kv struct {
	k string
	v any
}

// obj is an ordered JSON object.
type obj []kv

// rawJSON is written verbatim.
type rawJSON []byte

func (o obj) get(k string) (any, bool) {
	for _, m := range o {
		if m.k == k {
			return m.v, true
		}
	}
	return nil, false
}

// marshal renders v as compact JSON without HTML escaping (the service does
// not escape <, > or &).
func marshal(v any) []byte {
	var b bytes.Buffer
	writeJSON(&b, v)
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case obj:
		b.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, m.k)
			b.WriteByte(':')
			writeJSON(b, m.v)
		}
		b.WriteByte('}')
	case []obj:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, e)
		}
		b.WriteByte(']')
	case []int:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(e))
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := make(obj, 0, len(keys))
		for _, k := range keys {
			o = append(o, kv{k, x[k]})
		}
		writeJSON(b, o)
	case string:
		writeString(b, x)
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(formatNumber(x))
	case rawJSON:
		b.Write(x)
	default:
		writeString(b, fmt.Sprint(x))
	}
}

func formatNumber(f float64) string {
	if f == float64(int64(f)) && f < 1e15 && f > -1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// Content types the service answers with.
const (
	ctJSON          = "application/json; odata.metadata=minimal"
	ctJSONStreaming = "application/json; odata.metadata=minimal; odata.streaming=true"
)

// apiResponse is one answer of the Web API, kept in memory so that $batch can
// embed it and faults can discard it.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

func newResponse(status int) *apiResponse {
	h := http.Header{}
	h.Set("OData-Version", "4.0")
	return &apiResponse{status: status, header: h}
}

func jsonResponse(status int, v any) *apiResponse {
	r := newResponse(status)
	r.header.Set("Content-Type", ctJSONStreaming)
	r.body = marshal(v)
	return r
}

// apiError is a Dataverse error: {"error":{"code":"0x…","message":"…"}}.
type apiError struct {
	status  int
	code    string
	message string
	header  http.Header
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.code, e.message) }

func newErr(status int, code, format string, args ...any) *apiError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &apiError{status: status, code: code, message: msg}
}

// Error codes used by the emulator (hex form as the Web API returns them).
const (
	codeQuery            = "0x80060888" // OData query / URL errors, "Resource not found for the segment"
	codeQueryNode        = "0x8006088a" // "The query node In is not supported"
	codePayload          = "0x80048d19" // "Error identified in Payload provided by the user …"
	codeNotExist         = "0x80040217" // ObjectDoesNotExist
	codeDuplicate        = "0x80040237" // DuplicateRecord
	codeConcurrency      = "0x80060882" // ConcurrencyVersionMismatch
	codeValidation       = "0x80044331" // string too long / value out of range
	codeOptionRange      = "0x8004431a" // option set value outside the valid range
	codeExpiredVersion   = "0x80044352" // ExpiredVersionStamp
	codeThrottleRequests = "0x80072322" // service protection: number of requests
	codeUnexpected       = "0x80040216" // UnExpected
	codeAuth             = "0x8005F101" // AccessTokenExpired: "The requested resource requires authentication."
	codeAttachment       = "0x80043e09" // attachment blocked / too large
)

// payloadErr wraps an OData reader message the way Dataverse reports body
// errors (code 0x80048d19).
func payloadErr(set, inner string) *apiError {
	return newErr(http.StatusBadRequest, codePayload,
		"Error identified in Payload provided by the user for Entity :'%s', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : Microsoft.OData.ODataException: %s",
		set, inner)
}

func notExistErr(logical, id string) *apiError {
	return newErr(http.StatusNotFound, codeNotExist, "%s With Id = %s Does Not Exist", logical, id)
}

func segmentErr(seg string) *apiError {
	return newErr(http.StatusNotFound, codeQuery, "Resource not found for the segment '%s'.", seg)
}

func propertyErr(logical, prop string) *apiError {
	return newErr(http.StatusBadRequest, codeQuery, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", prop, logical)
}

// errorResponse renders e; with odata.include-annotations covering the error
// details it adds the @Microsoft.PowerApps.CDS.* members.
func errorResponse(e *apiError, p prefer) *apiResponse {
	body := obj{{"code", e.code}, {"message", e.message}}
	if p.wants("Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus") {
		body = append(body, kv{"@Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus", "0"})
	}
	if p.wants("Microsoft.PowerApps.CDS.ErrorDetails.SubErrorCode") {
		sub := "0"
		if n, err := strconv.ParseUint(strings.TrimPrefix(e.code, "0x"), 16, 32); err == nil && e.code != "" {
			sub = strconv.FormatInt(int64(int32(uint32(n))), 10)
		}
		body = append(body, kv{"@Microsoft.PowerApps.CDS.ErrorDetails.SubErrorCode", sub})
	}
	if p.wants("Microsoft.PowerApps.CDS.HelpLink") {
		body = append(body, kv{"@Microsoft.PowerApps.CDS.HelpLink",
			"http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a" +
				strings.TrimPrefix(e.code, "0x") + "&client=platform"})
	}
	if p.wants("Microsoft.PowerApps.CDS.TraceText") {
		body = append(body, kv{"@Microsoft.PowerApps.CDS.TraceText", ""})
	}
	if p.wants("Microsoft.PowerApps.CDS.InnerError.Message") {
		body = append(body, kv{"@Microsoft.PowerApps.CDS.InnerError.Message", e.message})
	}
	r := newResponse(e.status)
	r.header.Set("Content-Type", ctJSON)
	for k, v := range e.header {
		r.header[k] = v
	}
	r.body = marshal(obj{{"error", body}})
	return r
}
