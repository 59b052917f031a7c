package odata

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadHTTPAsNetHTTP: a batch answer's parts read as net/http reads
// them, whichever way they are written, and what the short parser does
// not read goes to net/http.
func TestReadHTTPAsNetHTTP(t *testing.T) {
	for name, part := range map[string]string{
		"created":              "HTTP/1.1 201 Created\r\nContent-Type: application/json; odata.metadata=minimal\r\nOData-EntityId: https://x/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)\r\nETag: W/\"1\"\r\n\r\n{\"accountid\":\"00000000-0000-0000-0000-000000000001\"}\r\n",
		"no content, LF lines": "HTTP/1.1 204 No Content\nOData-Version: 4.0\n\n",
		"no reason":            "HTTP/1.1 412\r\n\r\n{\"error\":{\"code\":\"0x80060882\"}}",
		"repeated header":      "HTTP/1.1 200 OK\r\nx-a: 1\r\nX-A: 2\r\ncontent-length: 2\r\n\r\n{}trailing",
		"throttled":            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n\r\n",
		"chunked":              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader([]byte(part))), nil)
			require.NoError(t, err)
			body, err := io.ReadAll(want.Body)
			require.NoError(t, err)
			_, short := parseHTTP([]byte(part))
			assert.Equal(t, name != "chunked", short, "read by the short parser")
			got, _, err := readHTTP(bytes.NewReader([]byte("\r\n" + part)))
			require.NoError(t, err)
			assert.Equal(t, want.StatusCode, got.Status)
			for k, v := range want.Header {
				assert.Equal(t, v, got.Header[k], k)
			}
			assert.Equal(t, string(bytes.TrimSpace(body)), string(got.Body))
		})
	}
	for name, part := range map[string]string{
		"not http":          "hello\r\n\r\n",
		"short body":        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
		"headers never end": "HTTP/1.1 200 OK\r\nX-A: 1",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := readHTTP(bytes.NewReader([]byte(part)))
			assert.Error(t, err)
		})
	}
}
