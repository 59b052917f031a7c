package files_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/synchub/synchub/connectors/dropbox"
	"github.com/synchub/synchub/connectors/dropbox/emulator"
	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

// Quota is the per-device quota of account files in the test config.
const quota = 400 << 10

// testConfig: source "crm" (memconn: accounts partitioned by owner, whose
// files are eager when .pdf, .txt or .bin up to 1 MiB, 400 KiB per
// device), source "docs" (Dropbox, attached to crm). alice is u1 (owns
// acc-0003), bob u2 (acc-0001 and acc-0004), root the admin.
const testConfig = `
hub {
  data_dir       = %[1]q
  checkpoint_key = "0123456789abcdef0123456789abcdef"
}
source "crm" {
  plugin   = "memconn"
  interval = "0"
  entity "account" {
    partition_by = "owner:owner"
    files {
      mode     = "eager"
      suffixes = [".pdf", ".txt", ".bin"]
      max_size = "1MiB"
      quota    = "400KiB"
    }
  }
}
source "docs" {
  plugin    = "dropbox"
  attach_to = "crm"
  interval  = "0"
  config    = { access_token = "synchub-dev", api_url = %[2]q, content_url = %[3]q }
}
user "alice" {
  password_hash = %[4]q
  identity "crm" { id = "u1" }
}
user "bob" {
  password_hash = %[4]q
  identity "crm" { id = "u2" }
}
user "root" {
  password_hash = %[4]q
  role          = "admin"
}
`

// pwHash is "pw" at bcrypt's lowest cost, which keeps logins fast under
// the race detector.
var pwHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// env is a hub with an in-process memconn "crm" and a Dropbox emulator
// behind "docs", served over HTTP.
type env struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	h   *hub.Hub
	mem *memconn.Connector
	dbx *emulator.Server
	url string
	// dataDir is the hub's data_dir.
	dataDir string
}

// envOptions tune newEnv.
type envOptions struct {
	// cacheBytes is hub.Options.FileCacheBytes (negative: no cache).
	cacheBytes int64
	// noStart leaves the job queue stopped (start it with env.start).
	noStart bool
}

func newEnv(t *testing.T, st *store.Store, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	dbx := emulator.New(emulator.Options{Seed: 1, Records: []emulator.RecordFolder{
		{Entity: "account", Name: "Account 1", ID: "acc-0001"},
		{Entity: "account", Name: "Account 2", ID: "acc-0002"},
		{Entity: "account", Name: "Ghost", ID: "acc-9999"},
	}})
	base, err := dbx.Start()
	require.NoError(t, err)
	t.Cleanup(dbx.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.hcl")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(testConfig, filepath.Join(dir, "data"), base, base, pwHash)), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	mem := memconn.New(memconn.WithSeed(4))
	log := storetest.Logger(t)
	h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st, Logger: log, FileCacheBytes: o.cacheBytes,
		Clients: map[string]sdk.Client{"crm": sdk.InProcess(mem, log), "docs": sdk.InProcess(dropbox.New(), log)}})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, ctx: ctx, st: st, h: h, mem: mem, dbx: dbx, url: srv.URL, dataDir: filepath.Join(dir, "data")}
	if !o.noStart {
		e.start()
	}
	return e
}

// start runs the hub's job queue (scheduled listings and uploads).
func (e *env) start() {
	e.t.Helper()
	require.NoError(e.t, e.h.Start(e.ctx))
	e.t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.h.Files().Stop(sctx)
		_ = e.h.Pusher().Stop(sctx)
		_ = e.h.Puller().Stop(sctx)
	})
}

// attach writes a file on a memconn record, as a CRM user would.
func (e *env) attach(record, name string, data []byte) sdk.File {
	e.t.Helper()
	f, err := e.mem.WriteFile(e.ctx, sdk.WriteFileRequest{Record: sdk.RecordRef{Entity: "account", ID: record},
		Name: name, Size: int64(len(data))}, bytes.NewReader(data))
	require.NoError(e.t, err)
	return f
}

// sync pulls crm and lists both sources' files.
func (e *env) sync() {
	e.t.Helper()
	require.NoError(e.t, e.h.Puller().PullSource(e.ctx, "crm", nil, false))
	for _, src := range []string{"crm", "docs"} {
		_, err := e.h.Files().SyncSource(e.ctx, src, false)
		require.NoError(e.t, err, src)
	}
}

// do sends a request; body may be nil, []byte or a value sent as JSON.
func (e *env) do(method, path, token string, body any, headers ...string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.url+path, rd)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	return resp
}

// read sends a request and returns the response with its body read.
func (e *env) read(method, path, token string, body any, headers ...string) (*http.Response, []byte) {
	e.t.Helper()
	resp := e.do(method, path, token, body, headers...)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, data
}

func (e *env) login(user, device string) string {
	e.t.Helper()
	resp, data := e.read("POST", "/v1/auth/token", "", map[string]string{"username": user, "password": "pw", "device_id": device})
	require.Equal(e.t, http.StatusOK, resp.StatusCode, string(data))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(e.t, json.Unmarshal(data, &tok))
	return tok.AccessToken
}

// fileFields is a "_file" op's fields as the device client parses them.
type fileFields struct {
	Name       string     `json:"name"`
	Size       int64      `json:"size"`
	MimeType   string     `json:"mime_type"`
	ModifiedAt *time.Time `json:"modified_at"`
	Hash       string     `json:"hash"`
	Version    string     `json:"version"`
	Record     struct {
		Entity string `json:"entity"`
		ID     string `json:"id"`
	} `json:"record"`
	Source string `json:"source"`
	Mode   string `json:"mode"`
	Status string `json:"status"`
}

type op struct {
	Partition string          `json:"partition"`
	Entity    string          `json:"entity"`
	ID        string          `json:"id"`
	Op        string          `json:"op"`
	Fields    json.RawMessage `json:"fields"`
}

// device is a logged-in device with its checkpoint and its files.
type device struct {
	e          *env
	token      string
	checkpoint string
	files      map[string]fileFields // "_file" id -> fields
}

func (e *env) device(user, id string) *device {
	return &device{e: e, token: e.login(user, id), files: map[string]fileFields{}}
}

// sync downloads crm's changes to a consistent point and applies the
// "_file" ops; it returns them.
func (d *device) sync() []op {
	d.e.t.Helper()
	var out []op
	for range 100 {
		path := "/v1/sources/crm/changes?limit=50"
		if d.checkpoint != "" {
			path += "&checkpoint=" + url.QueryEscape(d.checkpoint)
		}
		resp, data := d.e.read("GET", path, d.token, nil)
		require.Equal(d.e.t, http.StatusOK, resp.StatusCode, string(data))
		var page struct {
			Ops        []op   `json:"ops"`
			Checkpoint string `json:"checkpoint"`
			HasMore    bool   `json:"has_more"`
		}
		require.NoError(d.e.t, json.Unmarshal(data, &page))
		for _, o := range page.Ops {
			if o.Entity != store.FileEntity {
				continue
			}
			out = append(out, o)
			if o.Op == "remove" {
				delete(d.files, o.ID)
				continue
			}
			var f fileFields
			require.NoError(d.e.t, json.Unmarshal(o.Fields, &f))
			d.files[o.ID] = f
		}
		d.checkpoint = page.Checkpoint
		if !page.HasMore {
			return out
		}
	}
	d.e.t.Fatal("changes never reached has_more=false")
	return nil
}

// file returns the id and fields of the device's file called name.
func (d *device) file(name string) (string, fileFields) {
	d.e.t.Helper()
	for id, f := range d.files {
		if f.Name == name {
			return id, f
		}
	}
	d.e.t.Fatalf("the device has no file %q; it has %v", name, d.names())
	return "", fileFields{}
}

func (d *device) names() []string {
	var out []string
	for _, f := range d.files {
		out = append(out, f.Name)
	}
	return out
}

// content GETs a file's content.
func (d *device) content(id string, headers ...string) (*http.Response, []byte) {
	d.e.t.Helper()
	return d.e.read("GET", "/v1/files/"+url.PathEscape(id)+"/content", d.token, nil, headers...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
