package memconn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"

	"github.com/synchub/synchub/sdk"
)

// filesPerPage is the most files a ListFiles page holds.
const filesPerPage = 100

// ListFiles lists files written after the cursor's version, oldest first.
func (m *Connector) ListFiles(_ context.Context, req sdk.ListFilesRequest, send func(sdk.FilePage) error) error {
	since := int64(0)
	if req.Cursor != "" {
		var err error
		if since, err = strconv.ParseInt(req.Cursor, 10, 64); err != nil {
			return expired("", req.Cursor)
		}
	}
	if _, err := m.trip("list_files", 0); err != nil {
		return err
	}
	m.mu.Lock()
	var fs []*file
	for _, f := range m.st.files {
		if f.version > since && (len(req.Entities) == 0 || slices.Contains(req.Entities, f.meta.Record.Entity)) {
			fs = append(fs, f)
		}
	}
	head := strconv.FormatInt(max(since, m.st.version), 10)
	m.mu.Unlock()
	sort.Slice(fs, func(i, j int) bool { return fs[i].version < fs[j].version })
	for {
		n := min(len(fs), filesPerPage)
		pg := sdk.FilePage{Cursor: head, Done: n == len(fs)}
		for _, f := range fs[:n] {
			pg.Files = append(pg.Files, f.meta)
			pg.Cursor = strconv.FormatInt(f.version, 10)
		}
		if pg.Done {
			pg.Cursor = head
		}
		if err := send(pg); err != nil || pg.Done {
			return err
		}
		fs = fs[n:]
	}
}

// ReadFile returns a file's content from req.Offset, req.Length bytes long
// (0: to the end).
func (m *Connector) ReadFile(_ context.Context, req sdk.ReadFileRequest) (io.ReadCloser, sdk.File, error) {
	if _, err := m.trip("read_file", 0); err != nil {
		return nil, sdk.File{}, err
	}
	m.mu.Lock()
	f, ok := m.st.files[req.ID]
	m.mu.Unlock()
	if !ok {
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeNotFound, Summary: "memconn has no such file", Detail: req.ID}
	}
	size := int64(len(f.data))
	if req.Offset < 0 || req.Offset > size || req.Length < 0 {
		return nil, sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest,
			Summary: fmt.Sprintf("range %d+%d is outside file %s of %d bytes", req.Offset, req.Length, req.ID, size)}
	}
	end := size
	if req.Length > 0 {
		end = min(size, req.Offset+req.Length)
	}
	return io.NopCloser(bytes.NewReader(f.data[req.Offset:end])), f.meta, nil
}

// WriteFile stores a new file on an existing record.
func (m *Connector) WriteFile(_ context.Context, req sdk.WriteFileRequest, body io.Reader) (sdk.File, error) {
	if _, err := m.trip("write_file", 0); err != nil {
		return sdk.File{}, err
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return sdk.File{}, fmt.Errorf("write file %s: %w", req.Name, err)
	}
	if req.Size >= 0 && int64(len(data)) != req.Size {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeInvalidRequest,
			Summary: fmt.Sprintf("file %s announced %d bytes and sent %d", req.Name, req.Size, len(data))}
	}
	sum := sha256.Sum256(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.st.table(req.Record.Entity).rows[req.Record.ID]; !ok {
		return sdk.File{}, &sdk.Error{Code: sdk.CodeNotFound, Entity: req.Record.Entity, Summary: "no such record", Detail: req.Record.ID}
	}
	// A retried write (same key) answers the file the first one made.
	if id, ok := m.st.written[req.Key]; ok && req.Key != "" {
		if f, ok := m.st.files[id]; ok {
			return f.meta, nil
		}
	}
	m.st.version++
	v := strconv.FormatInt(m.st.version, 10)
	meta := sdk.File{ID: "file-" + v, Name: req.Name, Size: int64(len(data)), MimeType: req.MimeType,
		ModifiedAt: m.clock().UTC(), Hash: hex.EncodeToString(sum[:]), Version: v, Record: req.Record}
	if meta.MimeType == "" {
		meta.MimeType = "application/octet-stream"
	}
	m.st.files[meta.ID] = &file{meta: meta, version: m.st.version, data: data}
	if req.Key != "" {
		m.st.written[req.Key] = meta.ID
	}
	return meta, nil
}
