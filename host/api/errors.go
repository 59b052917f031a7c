package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Error codes: stable strings a client may branch on (see openapi.yaml).
const (
	codeInvalidBody        = "invalid_body"
	codeBodyTooLarge       = "body_too_large"
	codeInvalidParameter   = "invalid_parameter"
	codeInvalidCheckpoint  = "invalid_checkpoint"
	codeCheckpointMismatch = "checkpoint_mismatch"
	codeUnauthorized       = "unauthorized"
	codeInvalidCredentials = "invalid_credentials"
	codeRateLimited        = "rate_limited"
	codeForbidden          = "forbidden"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codeUnavailable        = "unavailable"
	codeRestartFailed      = "restart_failed"
	codeNotReady           = "not_ready"
	codeInternal           = "internal"
)

// errorBody is every error response: {"error": {"code", "message"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// abortError ends the request with an error body.
func abortError(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// abortInternal logs err (which may hold details a client must not see)
// and answers a generic 500.
func (s *Server) abortInternal(c *gin.Context, err error) {
	s.log.Error("request failed", "method", c.Request.Method, "route", c.FullPath(), "error", err)
	abortError(c, http.StatusInternalServerError, codeInternal, "internal error; see the hub's log")
}

// decodeJSON reads the request body into v: one JSON object, no unknown
// fields, at most the configured body size. It answers the error itself
// and returns false when the body is not acceptable. With optional set an
// empty body leaves v as it is.
func (s *Server) decodeJSON(c *gin.Context, v any, optional bool) bool {
	// limitBody has wrapped the body in an http.MaxBytesReader.
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			abortError(c, http.StatusRequestEntityTooLarge, codeBodyTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit))
			return false
		}
		abortError(c, http.StatusBadRequest, codeInvalidBody, "cannot read request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return true
		}
		abortError(c, http.StatusBadRequest, codeInvalidBody, "request body is empty; a JSON object is required")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		abortError(c, http.StatusBadRequest, codeInvalidBody, describeJSONError(data, err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		abortError(c, http.StatusBadRequest, codeInvalidBody,
			fmt.Sprintf("malformed JSON: unexpected data after the object at byte %d", dec.InputOffset()))
		return false
	}
	return true
}

// describeJSONError turns a decoding error into a message that names the
// place or the field.
func describeJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Sprintf("malformed JSON at line %d, column %d (byte %d): %s", line, col, syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return fmt.Sprintf("request body must be a JSON object, not %s", typ.Value)
		}
		return fmt.Sprintf("field %q must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of the body"
	default:
		// Unknown fields: encoding/json says `json: unknown field "x"`,
		// which names the field.
		return "invalid request body: " + err.Error()
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	default:
		return "a number"
	}
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset-1 && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
