// Package sdktest is the conformance suite a connector must pass: one table
// of cases, each run against the connector in the same process
// (sdk.InProcess) and over a real gRPC connection (sdk.GRPCPlugin served on
// a loopback listener with the limits sdk.Serve sets, read through
// sdk.NewGRPCClient), so the plugin boundary is tested by the same cases.
//
// A partner runs it from a test of the connector's package:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, sdktest.Config{
//			New:        func(t *testing.T) sdk.Connector { return mycrm.New() },
//			ConfigJSON: json.RawMessage(`{"url": "` + emulatorURL + `"}`),
//			Backend:    emulatorBackend{...},
//			Entities:   []sdktest.EntityConfig{{Name: "account", Fields: ...}},
//		})
//	}
//
// Cases that change data on the server between passes do it through
// Backend, which for a real connector calls the back end's emulator; they
// are skipped when Backend or the entity's NewRecord is nil. Cases for a
// capability the connector lacks are skipped; Config.Skip skips others.
// resolve_user needs Config.User once the connector resolves users.
//
// The suite knows only the sdk types and the filter package: nothing of the
// hub, and nothing of any particular connector.
package sdktest

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/synchub/synchub/sdk"
)

// Config describes the connector under test.
type Config struct {
	// New returns a fresh connector that Configure(ConfigJSON) makes ready.
	// The suite calls it right before each case (per mode and entity) and
	// runs one case at a time, so Backend may act on the back end of the
	// connector New made last.
	New func(t *testing.T) sdk.Connector
	// ConfigJSON is handed to Configure, as the hub hands the source's
	// config object.
	ConfigJSON json.RawMessage
	// Entities are the entities to test, as an admin would configure them.
	Entities []EntityConfig
	// Backend makes changes on the server side, between passes; nil skips
	// the cases that need it.
	Backend Backend
	// Skip skips cases by name.
	Skip SkipFlags
	// PageSize is the page size of the fetch cases (default 10); seed the
	// back end with more records than that so passes have several pages.
	PageSize int
	// Timeout bounds each case (default one minute).
	Timeout time.Duration
	// FileRecord is the record files_round_trip attaches its file to. Leave
	// it empty to use the first record a fetch of Entities returns; set it
	// for a connector without Fetcher (a document store, whose records live
	// in another source).
	FileRecord sdk.RecordRef
	// FileHash computes the back end's content hash (File.Hash) of content,
	// for files_round_trip to check exactly; nil checks only that a
	// 64-hex-digit hash is the content's SHA-256.
	FileHash func(content []byte) string
	// User is a user the back end knows, for resolve_user. A connector
	// that implements sdk.UserResolver must set it: the case fails without.
	User UserConfig
}

// UserConfig is a back-end user resolve_user looks up by login.
type UserConfig struct {
	// Login is the user's sign-in name: an e-mail address or domain name.
	Login string
	// ID is the back-end id ResolveUser must answer for Login.
	ID string
	// Attributes, when set, must each be among the answer's attributes
	// with this value (the answer may hold more).
	Attributes map[string]string
}

// EntityConfig is one entity under test.
type EntityConfig struct {
	Name string
	// Fields is the projection the fetch cases ask for (empty: all).
	Fields []string
	// Filter is an OData filter that selects some but not all records, for
	// filter_pushdown ("" skips that case).
	Filter string
	// Writable says Upload may write the entity (the upload cases run).
	Writable bool
	// NewRecord returns the fields of a valid new record, without its id; i
	// differs per call, for values that must be unique.
	NewRecord func(i int) map[string]any
	// Update returns a valid change to rec: the changed fields only.
	Update func(rec sdk.Record) map[string]any
}

// Backend changes data on the server side, as the back end's own users do.
// For a real connector it calls the emulator.
type Backend interface {
	// Put creates a record with fields and returns its id.
	Put(entity string, fields map[string]any) (id string, err error)
	// Update changes fields of an existing record, bumping its version.
	Update(entity, id string, fields map[string]any) error
	// Delete deletes a record.
	Delete(entity, id string) error
}

// SkipFlags skips cases; each flag is named after its case.
type SkipFlags struct {
	Describe, Schema, Check bool

	FetchFull, FetchIncremental, FetchResume, CursorFromFuture, PageSize, FilterPushdown bool

	UploadRoundTrip, UploadStaleUpdate, UploadUpdateOfDeleted, UploadReplayedCreate, UploadReplayedWrites, UploadAtomic bool

	Files bool

	ResolveUser bool
}

// Run runs every case against the connector Config.New makes, in process
// and over gRPC: subtests named <mode>/<case>[/<entity>].
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.New == nil {
		t.Fatal("sdktest.Config.New is nil")
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if c.skip(cfg.Skip) {
						t.Skip("skipped by sdktest.Config.Skip")
					}
					if !c.perEntity {
						runCase(t, t, cfg, m, c, EntityConfig{})
						return
					}
					for _, e := range cfg.Entities {
						t.Run(e.Name, func(t *testing.T) { runCase(t, t, cfg, m, c, e) })
					}
				})
			}
		})
	}
}

// tb is the part of *testing.T the cases use, so that the suite's own tests
// can run a case against a broken connector and see it fail without failing.
type tb interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// harness is what a case works with.
type harness struct {
	tb
	ctx     context.Context
	cfg     Config
	conn    sdk.Connector // the Go value behind client
	client  sdk.Client
	backend Backend
	seq     int // the last number given to NewRecord
}

// runCase sets up a fresh connector for one case in one mode (registering
// clean-ups on t) and runs the case, reporting to into.
func runCase(t *testing.T, into tb, cfg Config, m mode, c testCase, e EntityConfig) {
	conn := cfg.New(t)
	client := m.connect(t, conn)
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	if cfg.PageSize <= 0 {
		cfg.PageSize = 10
	}
	if err := client.Configure(ctx, sdk.ConfigureRequest{Source: "sdktest", Config: cfg.ConfigJSON}); err != nil {
		into.Fatalf("Configure(%s): %v", cfg.ConfigJSON, err)
	}
	c.run(&harness{tb: into, ctx: ctx, cfg: cfg, conn: conn, client: client, backend: cfg.Backend}, e)
}

// mode is one way of reaching the connector.
type mode struct {
	name    string
	connect func(t *testing.T, c sdk.Connector) sdk.Client
}

var modes = []mode{
	{"in_process", func(_ *testing.T, c sdk.Connector) sdk.Client { return sdk.InProcess(c, hclog.NewNullLogger()) }},
	{"grpc", func(t *testing.T, c sdk.Connector) sdk.Client { return ServeGRPC(t, c) }},
}

// ServeGRPC serves c on a loopback gRPC server through sdk.GRPCPlugin, with
// the options (message limits) sdk.Serve and the host set, and returns the
// host's client of it: the plugin channel as production runs it, in one
// process, for a test or a benchmark. The server stops when the test ends.
// (go-plugin's TestPluginGRPCConn would keep gRPC's 4 MiB default limits
// and log to stderr, so it does not test what production runs.)
func ServeGRPC(t testing.TB, c sdk.Connector) sdk.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(sdk.GRPCServerOptions()...)
	p := &sdk.GRPCPlugin{Impl: c}
	if err := p.GRPCServer(nil, srv); err != nil {
		t.Fatalf("register connector service: %v", err)
	}
	go func() { _ = srv.Serve(lis) }()
	cc, err := grpc.NewClient(lis.Addr().String(),
		append(sdk.GRPCDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatalf("dial connector service: %v", err)
	}
	t.Cleanup(func() { _ = cc.Close(); srv.Stop() })
	client, err := p.GRPCClient(context.Background(), nil, cc)
	if err != nil {
		t.Fatalf("connector client: %v", err)
	}
	return client.(sdk.Client)
}
