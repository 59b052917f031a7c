package sdk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
)

// Client is how the host sees a connector: every call exists, and a
// capability the connector lacks answers ErrUnsupported. NewGRPCClient gives
// one over the plugin protocol, InProcess one in the same process; both
// behave the same.
type Client interface {
	Describe(ctx context.Context) (Description, error)
	Configure(ctx context.Context, req ConfigureRequest) error
	Check(ctx context.Context) (CheckResult, error)
	Schema(ctx context.Context, req SchemaRequest) (Schema, error)
	Fetch(ctx context.Context, req FetchRequest, recv func(Page) error) error
	Deletions(ctx context.Context, req DeletionsRequest, recv func(DeletionPage) error) error
	ListIDs(ctx context.Context, req ListIDsRequest, recv func([]string) error) error
	Upload(ctx context.Context, req UploadRequest) (UploadResponse, error)
	ListFiles(ctx context.Context, req ListFilesRequest, recv func(FilePage) error) error
	ReadFile(ctx context.Context, req ReadFileRequest) (io.ReadCloser, File, error)
	WriteFile(ctx context.Context, req WriteFileRequest, body io.Reader) (File, error)
	ResolveUser(ctx context.Context, req ResolveUserRequest) (Identity, error)
}

// ConfigureLogger, when a connector implements it, receives the logger the
// SDK set up (relayed to the hub's log over the plugin protocol) before
// Configure is called.
type ConfigureLogger interface {
	SetLogger(hclog.Logger)
}

// InProcess wraps a connector as a Client without a plugin process, for
// tests and benchmarks. Pages are checked exactly as over gRPC, and a panic in
// the connector becomes an error as it does in a plugin.
func InProcess(c Connector, log hclog.Logger) Client {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if l, ok := c.(ConfigureLogger); ok {
		l.SetLogger(log)
	}
	return &inProcess{c: c}
}

type inProcess struct{ c Connector }

var _ Client = (*inProcess)(nil)

// guard turns a connector panic into an error naming the call.
func guard(call string, err *error) {
	if r := recover(); r != nil {
		*err = &Error{Code: CodeInternal, Summary: fmt.Sprintf("connector panicked in %s", call),
			Detail: fmt.Sprintf("%v\n%s", r, debug.Stack())}
	}
}

func (p *inProcess) Describe(ctx context.Context) (d Description, err error) {
	defer guard("Describe", &err)
	return describe(p.c), nil
}

func (p *inProcess) Configure(ctx context.Context, req ConfigureRequest) (err error) {
	defer guard("Configure", &err)
	return p.c.Configure(ctx, req)
}

func (p *inProcess) Check(ctx context.Context) (r CheckResult, err error) {
	defer guard("Check", &err)
	return p.c.Check(ctx)
}

func (p *inProcess) Schema(ctx context.Context, req SchemaRequest) (s Schema, err error) {
	defer guard("Schema", &err)
	s, err = p.c.Schema(ctx, req)
	if err == nil {
		err = checkSchema(req, s)
	}
	return s, err
}

func (p *inProcess) Fetch(ctx context.Context, req FetchRequest, recv func(Page) error) (err error) {
	defer guard("Fetch", &err)
	f, ok := p.c.(Fetcher)
	if !ok {
		return unsupported("Fetch")
	}
	return stream(ctx, "Fetch", func(send func(Page) error) error { return f.Fetch(ctx, req, send) },
		func(pg Page) error {
			if err := checkPage(req, pg); err != nil {
				return err
			}
			for i := range pg.Records {
				if err := checkRecordRaw(&pg.Records[i]); err != nil {
					return err
				}
			}
			return recv(pg)
		})
}

func (p *inProcess) Deletions(ctx context.Context, req DeletionsRequest, recv func(DeletionPage) error) (err error) {
	defer guard("Deletions", &err)
	d, ok := p.c.(DeleteTracker)
	if !ok {
		return unsupported("Deletions")
	}
	return stream(ctx, "Deletions", func(send func(DeletionPage) error) error { return d.Deletions(ctx, req, send) }, recv)
}

func (p *inProcess) ListIDs(ctx context.Context, req ListIDsRequest, recv func([]string) error) (err error) {
	defer guard("ListIDs", &err)
	l, ok := p.c.(IDLister)
	if !ok {
		return unsupported("ListIDs")
	}
	return stream(ctx, "ListIDs", func(send func([]string) error) error { return l.ListIDs(ctx, req, send) }, recv)
}

func (p *inProcess) Upload(ctx context.Context, req UploadRequest) (r UploadResponse, err error) {
	defer guard("Upload", &err)
	u, ok := p.c.(Uploader)
	if !ok {
		return r, unsupported("Upload")
	}
	// The connector gets its own copy of the ops, as it would over gRPC, so
	// editing them cannot confuse the result check.
	sent := req
	sent.Ops = make([]Op, len(req.Ops))
	for i, op := range req.Ops {
		if sent.Ops[i], err = op.forConnector(u); err != nil {
			return r, err
		}
		sent.Ops[i].Raw = bytes.Clone(sent.Ops[i].Raw)
	}
	r, err = u.Upload(ctx, sent)
	if err == nil {
		err = checkResults(req, r)
	}
	for _, res := range r.Results {
		if err == nil && res.Record != nil {
			err = checkRecordRaw(res.Record)
		}
	}
	return r, err
}

func (p *inProcess) ListFiles(ctx context.Context, req ListFilesRequest, recv func(FilePage) error) (err error) {
	defer guard("ListFiles", &err)
	l, ok := p.c.(FileLister)
	if !ok {
		return unsupported("ListFiles")
	}
	return stream(ctx, "ListFiles", func(send func(FilePage) error) error { return l.ListFiles(ctx, req, send) }, recv)
}

func (p *inProcess) ReadFile(ctx context.Context, req ReadFileRequest) (rc io.ReadCloser, f File, err error) {
	defer guard("ReadFile", &err)
	r, ok := p.c.(FileReader)
	if !ok {
		return nil, f, unsupported("ReadFile")
	}
	return r.ReadFile(ctx, req)
}

func (p *inProcess) WriteFile(ctx context.Context, req WriteFileRequest, body io.Reader) (f File, err error) {
	defer guard("WriteFile", &err)
	w, ok := p.c.(FileWriter)
	if !ok {
		return f, unsupported("WriteFile")
	}
	return w.WriteFile(ctx, req, body)
}

func (p *inProcess) ResolveUser(ctx context.Context, req ResolveUserRequest) (id Identity, err error) {
	defer guard("ResolveUser", &err)
	r, ok := p.c.(UserResolver)
	if !ok {
		return id, unsupported("ResolveUser")
	}
	if err := checkLogin(req); err != nil {
		return id, err
	}
	id, err = r.ResolveUser(ctx, req)
	if err == nil {
		err = checkIdentity(req, id)
	}
	return id, err
}

func unsupported(call string) error {
	return &Error{Code: CodeUnsupported, Summary: "not supported by this connector", Detail: call}
}

// stream runs produce, handing each item to consume, and makes sure the
// consumer's error wins over whatever the producer returns after it.
func stream[T any](ctx context.Context, call string, produce func(func(T) error) error, consume func(T) error) error {
	var stopped error
	err := produce(func(item T) error {
		if stopped != nil {
			return stopped
		}
		if err := ctx.Err(); err != nil {
			stopped = err
			return err
		}
		if err := consume(item); err != nil {
			stopped = err
			return err
		}
		return nil
	})
	if stopped != nil {
		return stopped
	}
	if err != nil {
		return err
	}
	return nil
}
