package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/synchub/synchub/sdk/filter"
	pb "github.com/synchub/synchub/sdk/proto"
)

// grpcServer serves a Connector over the plugin protocol.
type grpcServer struct {
	pb.UnimplementedConnectorServer
	c Connector
}

func newGRPCServer(c Connector) *grpcServer { return &grpcServer{c: c} }

func (s *grpcServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (resp *pb.DescribeResponse, err error) {
	defer guard("Describe", &err)
	d := describe(s.c)
	resp = &pb.DescribeResponse{Name: d.Name, Version: d.Version, ProtocolVersion: int32(d.ProtocolVersion), MaxBatchSize: int32(d.MaxBatchSize)}
	for _, c := range d.Capabilities {
		resp.Capabilities = append(resp.Capabilities, string(c))
	}
	for _, f := range d.ConfigSchema {
		resp.ConfigSchema = append(resp.ConfigSchema, &pb.ConfigField{Name: f.Name, Type: f.Type, Doc: f.Doc, Required: f.Required, Secret: f.Secret})
	}
	return resp, nil
}

func (s *grpcServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (_ *pb.ConfigureResponse, err error) {
	defer func() { err = toStatus(err) }()
	defer guard("Configure", &err)
	if err := s.c.Configure(ctx, ConfigureRequest{Source: req.Source, Config: req.ConfigJson}); err != nil {
		return nil, err
	}
	return &pb.ConfigureResponse{}, nil
}

func (s *grpcServer) Check(ctx context.Context, _ *pb.CheckRequest) (_ *pb.CheckResponse, err error) {
	defer func() { err = toStatus(err) }()
	defer guard("Check", &err)
	r, err := s.c.Check(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.CheckResponse{IdentityId: r.Identity.ID, IdentityName: r.Identity.Name, IdentityAttributes: r.Identity.Attributes, Message: r.Message}, nil
}

func (s *grpcServer) Schema(ctx context.Context, req *pb.SchemaRequest) (_ *pb.SchemaResponse, err error) {
	defer func() { err = toStatus(err) }()
	defer guard("Schema", &err)
	sreq := SchemaRequest{Entities: req.Entities}
	sch, err := s.c.Schema(ctx, sreq)
	if err != nil {
		return nil, err
	}
	if err := checkSchema(sreq, sch); err != nil {
		return nil, err
	}
	b, err := json.Marshal(sch)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return &pb.SchemaResponse{SchemaJson: b}, nil
}

func (s *grpcServer) Fetch(req *pb.FetchRequest, st pb.Connector_FetchServer) (err error) {
	defer func() { err = toStatus(err) }()
	defer guard("Fetch", &err)
	f, ok := s.c.(Fetcher)
	if !ok {
		return unsupported("Fetch")
	}
	expr, err := filter.Parse(req.Filter)
	if err != nil {
		return &Error{Code: CodeInvalidRequest, Entity: req.Entity, Summary: "invalid filter", Detail: err.Error()}
	}
	freq := FetchRequest{Entity: req.Entity, Fields: req.Fields, Filter: expr, Incremental: req.Incremental,
		Cursor: req.Cursor, PageSize: int(req.PageSize)}
	ctx := st.Context()
	return stream(ctx, "Fetch", func(send func(Page) error) error { return f.Fetch(ctx, freq, send) },
		func(pg Page) error {
			if err := checkPage(freq, pg); err != nil {
				return err
			}
			return sendPage(st, freq.Entity, pg)
		})
}

// sendPage splits a page into chunks of about ChunkBytes.
func sendPage(st pb.Connector_FetchServer, entity string, pg Page) error {
	chunk := &pb.PageChunk{}
	size := 0
	for i := range pg.Records {
		rec, err := recordToPB(&pg.Records[i])
		if err != nil {
			return &Error{Code: CodeInternal, Entity: entity, Summary: fmt.Sprintf("encode record %s", pg.Records[i].ID), Err: err}
		}
		n := len(rec.FieldsJson) + len(rec.Id) + len(rec.Version) + 32
		if n > MaxRecordBytes {
			return &Error{Code: CodeBadResponse, Entity: entity,
				Summary: fmt.Sprintf("record %s is %d bytes, over the %d-byte limit", rec.Id, n, MaxRecordBytes)}
		}
		if size+n > ChunkBytes && len(chunk.Records) > 0 {
			chunk.MoreInPage = true
			if err := st.Send(chunk); err != nil {
				return err
			}
			chunk, size = &pb.PageChunk{}, 0
		}
		chunk.Records = append(chunk.Records, rec)
		size += n
	}
	chunk.Deleted, chunk.Cursor, chunk.Done = pg.Deleted, pg.Cursor, pg.Done
	return st.Send(chunk)
}

func (s *grpcServer) Deletions(req *pb.DeletionsRequest, st pb.Connector_DeletionsServer) (err error) {
	defer func() { err = toStatus(err) }()
	defer guard("Deletions", &err)
	d, ok := s.c.(DeleteTracker)
	if !ok {
		return unsupported("Deletions")
	}
	ctx := st.Context()
	return stream(ctx, "Deletions", func(send func(DeletionPage) error) error {
		return d.Deletions(ctx, DeletionsRequest{Entity: req.Entity, Cursor: req.Cursor}, send)
	}, func(pg DeletionPage) error {
		for _, ids := range splitIDs(pg.IDs) {
			if err := st.Send(&pb.DeletionPage{Ids: ids}); err != nil {
				return err
			}
		}
		return st.Send(&pb.DeletionPage{Cursor: pg.Cursor, Done: pg.Done})
	})
}

func (s *grpcServer) ListIDs(req *pb.ListIDsRequest, st pb.Connector_ListIDsServer) (err error) {
	defer func() { err = toStatus(err) }()
	defer guard("ListIDs", &err)
	l, ok := s.c.(IDLister)
	if !ok {
		return unsupported("ListIDs")
	}
	expr, err := filter.Parse(req.Filter)
	if err != nil {
		return &Error{Code: CodeInvalidRequest, Entity: req.Entity, Summary: "invalid filter", Detail: err.Error()}
	}
	ctx := st.Context()
	return stream(ctx, "ListIDs", func(send func([]string) error) error {
		return l.ListIDs(ctx, ListIDsRequest{Entity: req.Entity, Filter: expr}, send)
	}, func(ids []string) error {
		for _, part := range splitIDs(ids) {
			if err := st.Send(&pb.IDPage{Ids: part}); err != nil {
				return err
			}
		}
		return nil
	})
}

// splitIDs keeps id lists well under the message limit.
func splitIDs(ids []string) [][]string {
	const per = 10000
	var out [][]string
	for len(ids) > per {
		out = append(out, ids[:per])
		ids = ids[per:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

func (s *grpcServer) Upload(ctx context.Context, req *pb.UploadRequest) (_ *pb.UploadResponse, err error) {
	defer func() { err = toStatus(err) }()
	defer guard("Upload", &err)
	u, ok := s.c.(Uploader)
	if !ok {
		return nil, unsupported("Upload")
	}
	ureq := UploadRequest{Atomic: req.Atomic}
	for _, op := range req.Ops {
		// Numbers arrive as json.Number, as in the host's process: a
		// 64-bit id or a long decimal keeps every digit on its way to the
		// back end.
		o, err := Op{MutationID: op.MutationId, Entity: op.Entity, Kind: OpKind(op.Kind), ID: op.Id,
			BaseVersion: op.BaseVersion, Raw: op.FieldsJson}.forConnector(u)
		if err != nil {
			return nil, err
		}
		ureq.Ops = append(ureq.Ops, o)
	}
	r, err := u.Upload(ctx, ureq)
	if err != nil {
		return nil, err
	}
	if err := checkResults(ureq, r); err != nil {
		return nil, err
	}
	resp := &pb.UploadResponse{}
	for _, res := range r.Results {
		pr := &pb.OpResult{MutationId: res.MutationID, Status: string(res.Status), Id: res.ID, Message: res.Message,
			RetryAfterMs: res.RetryAfter.Milliseconds(), MissingLookups: res.MissingLookups}
		if res.Record != nil {
			if pr.Record, err = recordToPB(res.Record); err != nil {
				return nil, fmt.Errorf("encode result record of mutation %s: %w", res.MutationID, err)
			}
		}
		resp.Results = append(resp.Results, pr)
	}
	return resp, nil
}

func (s *grpcServer) ListFiles(req *pb.ListFilesRequest, st pb.Connector_ListFilesServer) (err error) {
	defer func() { err = toStatus(err) }()
	defer guard("ListFiles", &err)
	l, ok := s.c.(FileLister)
	if !ok {
		return unsupported("ListFiles")
	}
	ctx := st.Context()
	return stream(ctx, "ListFiles", func(send func(FilePage) error) error {
		return l.ListFiles(ctx, ListFilesRequest{Cursor: req.Cursor, Entities: req.Entities}, send)
	}, func(pg FilePage) error {
		const per = 2000
		files := pg.Files
		for len(files) > per {
			msg := &pb.FilePage{}
			for _, f := range files[:per] {
				msg.Files = append(msg.Files, fileToPB(f))
			}
			if err := st.Send(msg); err != nil {
				return err
			}
			files = files[per:]
		}
		msg := &pb.FilePage{Deleted: pg.Deleted, Orphans: pg.Orphans, Cursor: pg.Cursor, Done: pg.Done}
		for _, f := range files {
			msg.Files = append(msg.Files, fileToPB(f))
		}
		return st.Send(msg)
	})
}

func (s *grpcServer) ReadFile(req *pb.ReadFileRequest, st pb.Connector_ReadFileServer) (err error) {
	defer func() { err = toStatus(err) }()
	defer guard("ReadFile", &err)
	r, ok := s.c.(FileReader)
	if !ok {
		return unsupported("ReadFile")
	}
	rc, f, err := r.ReadFile(st.Context(), ReadFileRequest{ID: req.Id, Offset: req.Offset, Length: req.Length})
	if err != nil {
		return err
	}
	defer rc.Close()
	size := int(req.ChunkSize)
	if size <= 0 || size > 4*ChunkBytes {
		size = ChunkBytes
	}
	if err := st.Send(&pb.FileChunk{File: fileToPB(f)}); err != nil {
		return err
	}
	buf := make([]byte, size)
	for {
		n, rerr := io.ReadFull(rc, buf)
		if n > 0 {
			if err := st.Send(&pb.FileChunk{Data: buf[:n]}); err != nil {
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read file %s: %w", req.Id, rerr)
		}
	}
}

func (s *grpcServer) WriteFile(st pb.Connector_WriteFileServer) (err error) {
	defer func() { err = toStatus(err) }()
	defer guard("WriteFile", &err)
	w, ok := s.c.(FileWriter)
	if !ok {
		return unsupported("WriteFile")
	}
	first, err := st.Recv()
	if err != nil {
		return fmt.Errorf("write file: receive header: %w", err)
	}
	h := first.Header
	if h == nil {
		return &Error{Code: CodeInvalidRequest, Summary: "write file: first message carries no header"}
	}
	req := WriteFileRequest{Name: h.Name, MimeType: h.MimeType, Size: h.Size, Key: h.Key}
	if h.Record != nil {
		req.Record = RecordRef{Entity: h.Record.Entity, ID: h.Record.Id, Name: h.Record.Name}
	}
	body := &chunkReader{next: func() ([]byte, error) {
		m, err := st.Recv()
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}, buf: first.Data}
	f, err := w.WriteFile(st.Context(), req, body)
	if err != nil {
		return err
	}
	return st.SendAndClose(&pb.WriteFileResponse{File: fileToPB(f)})
}

func (s *grpcServer) ResolveUser(ctx context.Context, req *pb.ResolveUserRequest) (_ *pb.ResolveUserResponse, err error) {
	defer func() { err = toStatus(err) }()
	defer guard("ResolveUser", &err)
	r, ok := s.c.(UserResolver)
	if !ok {
		return nil, unsupported("ResolveUser")
	}
	rreq := ResolveUserRequest{Login: req.Login}
	if err := checkLogin(rreq); err != nil {
		return nil, err
	}
	id, err := r.ResolveUser(ctx, rreq)
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(rreq, id); err != nil {
		return nil, err
	}
	return &pb.ResolveUserResponse{Identity: identityToPB(id)}, nil
}

// chunkReader reads a stream of byte chunks as one io.Reader.
type chunkReader struct {
	next func() ([]byte, error)
	buf  []byte
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.buf, r.err = r.next()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
