package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/synchub/synchub/sdk/filter"
	pb "github.com/synchub/synchub/sdk/proto"
)

// NewGRPCClient speaks the plugin protocol over conn.
func NewGRPCClient(conn grpc.ClientConnInterface) Client {
	return &grpcClient{c: pb.NewConnectorClient(conn)}
}

type grpcClient struct{ c pb.ConnectorClient }

var _ Client = (*grpcClient)(nil)

func (g *grpcClient) Describe(ctx context.Context) (Description, error) {
	r, err := g.c.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return Description{}, fromStatus(err)
	}
	d := Description{Name: r.Name, Version: r.Version, ProtocolVersion: int(r.ProtocolVersion), MaxBatchSize: int(r.MaxBatchSize)}
	for _, c := range r.Capabilities {
		d.Capabilities = append(d.Capabilities, Capability(c))
		if Capability(c) == CapAtomicBatches {
			d.AtomicBatches = true
		}
	}
	for _, f := range r.ConfigSchema {
		d.ConfigSchema = append(d.ConfigSchema, ConfigField{Name: f.Name, Type: f.Type, Doc: f.Doc, Required: f.Required, Secret: f.Secret})
	}
	return d, nil
}

func (g *grpcClient) Configure(ctx context.Context, req ConfigureRequest) error {
	_, err := g.c.Configure(ctx, &pb.ConfigureRequest{Source: req.Source, ConfigJson: req.Config})
	return fromStatus(err)
}

func (g *grpcClient) Check(ctx context.Context) (CheckResult, error) {
	r, err := g.c.Check(ctx, &pb.CheckRequest{})
	if err != nil {
		return CheckResult{}, fromStatus(err)
	}
	return CheckResult{Identity: Identity{ID: r.IdentityId, Name: r.IdentityName, Attributes: r.IdentityAttributes}, Message: r.Message}, nil
}

func (g *grpcClient) Schema(ctx context.Context, req SchemaRequest) (Schema, error) {
	r, err := g.c.Schema(ctx, &pb.SchemaRequest{Entities: req.Entities})
	if err != nil {
		return Schema{}, fromStatus(err)
	}
	var s Schema
	if err := json.Unmarshal(r.SchemaJson, &s); err != nil {
		return Schema{}, &Error{Code: CodeBadResponse, Summary: "plugin sent a malformed schema", Detail: err.Error()}
	}
	return s, nil
}

func (g *grpcClient) Fetch(ctx context.Context, req FetchRequest, recv func(Page) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := g.c.Fetch(ctx, &pb.FetchRequest{Entity: req.Entity, Fields: req.Fields, Filter: filter.String(req.Filter),
		Incremental: req.Incremental, Cursor: req.Cursor, PageSize: int32(req.PageSize)})
	if err != nil {
		return fromStatus(err)
	}
	// One page of read-ahead: the next page crosses the boundary and is
	// decoded while recv (the host committing this one) runs, so the
	// plugin and the back end are not idle during the host's write.
	pages := make(chan fetched, 1)
	go readPages(st, req.Entity, req.RawFields, pages)
	for f := range pages {
		if f.err == nil {
			f.err = recv(f.page)
		}
		if f.err != nil {
			cancel()
			for range pages { // the reader ends once the stream is cancelled
			}
			return f.err
		}
	}
	return nil
}

// fetched is a page read off a Fetch stream, or the error that ended it.
type fetched struct {
	page Page
	err  error
}

// readPages assembles a Fetch stream's chunks into pages and sends them to
// out, which it closes at the end of the stream or after an error.
func readPages(st pb.Connector_FetchClient, entity string, raw bool, out chan<- fetched) {
	defer close(out)
	var pg Page
	for {
		chunk, err := st.Recv()
		if errors.Is(err, io.EOF) {
			if len(pg.Records) > 0 {
				out <- fetched{err: &Error{Code: CodeBadResponse, Entity: entity, Summary: "plugin ended the stream in the middle of a page"}}
			}
			return
		}
		if err != nil {
			out <- fetched{err: fromStatus(err)}
			return
		}
		for _, r := range chunk.Records {
			rec, err := recordFromPB(r, raw)
			if err != nil {
				out <- fetched{err: fmt.Errorf("fetch %s: %w", entity, err)}
				return
			}
			pg.Records = append(pg.Records, rec)
		}
		if chunk.MoreInPage {
			continue
		}
		pg.Deleted, pg.Cursor, pg.Done = chunk.Deleted, chunk.Cursor, chunk.Done
		out <- fetched{page: pg}
		pg = Page{}
	}
}

func (g *grpcClient) Deletions(ctx context.Context, req DeletionsRequest, recv func(DeletionPage) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := g.c.Deletions(ctx, &pb.DeletionsRequest{Entity: req.Entity, Cursor: req.Cursor})
	if err != nil {
		return fromStatus(err)
	}
	var pg DeletionPage
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromStatus(err)
		}
		pg.IDs = append(pg.IDs, m.Ids...)
		if len(m.Ids) > 0 && m.Cursor == "" && !m.Done {
			continue
		}
		pg.Cursor, pg.Done = m.Cursor, m.Done
		if err := recv(pg); err != nil {
			return err
		}
		pg = DeletionPage{}
	}
}

func (g *grpcClient) ListIDs(ctx context.Context, req ListIDsRequest, recv func([]string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := g.c.ListIDs(ctx, &pb.ListIDsRequest{Entity: req.Entity, Filter: filter.String(req.Filter)})
	if err != nil {
		return fromStatus(err)
	}
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromStatus(err)
		}
		if err := recv(m.Ids); err != nil {
			return err
		}
	}
}

func (g *grpcClient) Upload(ctx context.Context, req UploadRequest) (UploadResponse, error) {
	preq := &pb.UploadRequest{Atomic: req.Atomic}
	for _, op := range req.Ops {
		fields := []byte(op.Raw)
		if op.Fields != nil || len(fields) == 0 {
			var err error
			if fields, err = json.Marshal(op.Fields); err != nil {
				return UploadResponse{}, fmt.Errorf("encode mutation %s: %w", op.MutationID, err)
			}
		}
		preq.Ops = append(preq.Ops, &pb.Op{MutationId: op.MutationID, Entity: op.Entity, Kind: string(op.Kind), Id: op.ID,
			BaseVersion: op.BaseVersion, FieldsJson: fields})
	}
	r, err := g.c.Upload(ctx, preq)
	if err != nil {
		return UploadResponse{}, fromStatus(err)
	}
	var resp UploadResponse
	for _, pr := range r.Results {
		res := OpResult{MutationID: pr.MutationId, Status: OpStatus(pr.Status), ID: pr.Id, Message: pr.Message,
			RetryAfter: time.Duration(pr.RetryAfterMs) * time.Millisecond, MissingLookups: pr.MissingLookups}
		if pr.Record != nil {
			rec, err := recordFromPB(pr.Record, req.RawResults)
			if err != nil {
				return UploadResponse{}, err
			}
			res.Record = &rec
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (g *grpcClient) ListFiles(ctx context.Context, req ListFilesRequest, recv func(FilePage) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := g.c.ListFiles(ctx, &pb.ListFilesRequest{Cursor: req.Cursor, Entities: req.Entities})
	if err != nil {
		return fromStatus(err)
	}
	var pg FilePage
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromStatus(err)
		}
		for _, f := range m.Files {
			pg.Files = append(pg.Files, fileFromPB(f))
		}
		pg.Deleted = append(pg.Deleted, m.Deleted...)
		pg.Orphans = append(pg.Orphans, m.Orphans...)
		if m.Cursor == "" && !m.Done && len(m.Deleted) == 0 && len(m.Orphans) == 0 {
			continue // a part of a larger page
		}
		pg.Cursor, pg.Done = m.Cursor, m.Done
		if err := recv(pg); err != nil {
			return err
		}
		pg = FilePage{}
	}
}

func (g *grpcClient) ReadFile(ctx context.Context, req ReadFileRequest) (io.ReadCloser, File, error) {
	ctx, cancel := context.WithCancel(ctx)
	st, err := g.c.ReadFile(ctx, &pb.ReadFileRequest{Id: req.ID, Offset: req.Offset, Length: req.Length, ChunkSize: ChunkBytes})
	if err != nil {
		cancel()
		return nil, File{}, fromStatus(err)
	}
	first, err := st.Recv()
	if err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, File{}, &Error{Code: CodeBadResponse, Summary: "plugin sent no file metadata"}
		}
		return nil, File{}, fromStatus(err)
	}
	body := &chunkReader{buf: first.Data, next: func() ([]byte, error) {
		m, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fromStatus(err)
		}
		return m.Data, nil
	}}
	return &streamBody{Reader: body, cancel: cancel}, fileFromPB(first.File), nil
}

// streamBody ends its stream when closed.
type streamBody struct {
	io.Reader
	cancel context.CancelFunc
}

func (b *streamBody) Close() error { b.cancel(); return nil }

func (g *grpcClient) WriteFile(ctx context.Context, req WriteFileRequest, body io.Reader) (File, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := g.c.WriteFile(ctx)
	if err != nil {
		return File{}, fromStatus(err)
	}
	hdr := &pb.WriteFileHeader{Record: &pb.RecordRef{Entity: req.Record.Entity, Id: req.Record.ID, Name: req.Record.Name},
		Name: req.Name, MimeType: req.MimeType, Size: req.Size, Key: req.Key}
	if err := st.Send(&pb.WriteFileRequest{Header: hdr}); err != nil {
		_, rerr := st.CloseAndRecv()
		return File{}, fromStatus(rerr)
	}
	buf := make([]byte, ChunkBytes)
	for {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if err := st.Send(&pb.WriteFileRequest{Data: buf[:n]}); err != nil {
				// The server ended the call; its status says why.
				_, serr := st.CloseAndRecv()
				return File{}, fromStatus(serr)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return File{}, fmt.Errorf("write file %s: read body: %w", req.Name, rerr)
		}
	}
	r, err := st.CloseAndRecv()
	if err != nil {
		return File{}, fromStatus(err)
	}
	return fileFromPB(r.File), nil
}

func (g *grpcClient) ResolveUser(ctx context.Context, req ResolveUserRequest) (Identity, error) {
	r, err := g.c.ResolveUser(ctx, &pb.ResolveUserRequest{Login: req.Login})
	if err != nil {
		return Identity{}, fromStatus(err)
	}
	id := identityFromPB(r.Identity)
	if err := checkIdentity(req, id); err != nil {
		return Identity{}, err
	}
	return id, nil
}
