package dropbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// ReadFile streams a file's content from files/download: the response body
// is handed back unread, never buffered, and Offset and Length travel as a
// Range header. A file gone since it was listed is a CodeNotFound error.
func (c *Connector) ReadFile(ctx context.Context, req sdk.ReadFileRequest) (io.ReadCloser, sdk.File, error) {
	st, err := c.current()
	if err != nil {
		return nil, sdk.File{}, err
	}
	if err := st.checkID(req.ID); err != nil {
		return nil, sdk.File{}, err
	}
	if req.Offset < 0 || req.Length < 0 {
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest,
			Summary: fmt.Sprintf("read file %s: negative offset %d or length %d", req.ID, req.Offset, req.Length)}
	}
	const route = "files/download"
	hdr, err := contentHeader(route, map[string]string{"path": req.ID})
	if err != nil {
		return nil, sdk.File{}, err
	}
	ranged := req.Offset > 0 || req.Length > 0
	if ranged {
		spec := fmt.Sprintf("bytes=%d-", req.Offset)
		if req.Length > 0 {
			spec += fmt.Sprint(req.Offset + req.Length - 1)
		}
		hdr.Set("Range", spec)
	}
	resp, err := st.http.Send(ctx, httpx.StreamRequest{Method: http.MethodPost, URL: st.contentURL + "/2/" + route,
		Header: hdr, Idempotent: true})
	if err != nil {
		return nil, sdk.File{}, readError(req, err)
	}
	var meta metadata
	if err := json.Unmarshal([]byte(resp.Header.Get("Dropbox-API-Result")), &meta); err != nil || meta.PathLower == "" {
		resp.Body.Close()
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeBadResponse,
			Summary: fmt.Sprintf("read file %s: dropbox sent no readable Dropbox-API-Result header", req.ID),
			Detail:  snippet([]byte(resp.Header.Get("Dropbox-API-Result")))}
	}
	p, _ := st.place(meta.PathDisplay, meta.PathLower)
	f := st.toFile(meta, p, c)
	body := resp.Body
	if ranged && resp.StatusCode == http.StatusOK {
		// The server ignored the Range: skip to Offset ourselves.
		if _, err := io.CopyN(io.Discard, body, req.Offset); err != nil {
			body.Close()
			return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest,
				Summary: fmt.Sprintf("read file %s: offset %d is past its end", req.ID, req.Offset), Err: err}
		}
	}
	if ranged && req.Length > 0 && resp.StatusCode == http.StatusOK {
		body = readCloser{io.LimitReader(body, req.Length), body}
	}
	return body, f, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// readError explains a failed download.
func readError(req sdk.ReadFileRequest, err error) error {
	if summary, ok := endpointError(err); ok && (hasTag(summary, "path/not_found") || hasTag(summary, "path/not_file")) {
		return &sdk.Error{Code: sdk.CodeNotFound, Summary: "the back end lost the file",
			Detail: fmt.Sprintf("dropbox has no file %s (%s); it was deleted or moved since it was listed", req.ID, trimSummary(summary)), Err: err}
	}
	var se *httpx.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return &sdk.Error{Code: sdk.CodeInvalidRequest,
			Summary: fmt.Sprintf("read file %s: range from %d (length %d) is outside the file", req.ID, req.Offset, req.Length), Err: err}
	}
	return withContext(callError("files/download", err), "read file "+req.ID)
}
