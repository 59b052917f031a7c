package dropbox

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/emulator"
	"github.com/synchub/synchub/sdk"
)

// testRecords are the records the emulator seeds for most tests.
var testRecords = []emulator.RecordFolder{
	{Entity: "account", Name: "Contoso Ltd", ID: "acc-1"},
	{Entity: "account", Name: "Fabrikam_Inc", ID: "acc-2"},
	{Entity: "contact", Name: "Ada Lovelace", ID: "con-1"},
}

// env is a started emulator and a connector configured against it.
type env struct {
	t   *testing.T
	emu *emulator.Server
	c   *Connector
	ctx context.Context
}

// newEnv starts an emulator with opts and configures a connector with the
// access token, the emulator's URLs and extra config keys.
func newEnv(t *testing.T, opts emulator.Options, extra map[string]any) *env {
	t.Helper()
	if opts.Records == nil {
		opts.Records = testRecords
	}
	emu := emulator.New(opts)
	base, err := emu.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	cfg := map[string]any{"access_token": emulator.DefaultAccessToken, "api_url": base, "content_url": base}
	for k, v := range extra {
		if v == nil {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c := New()
	if err := c.Configure(ctx, sdk.ConfigureRequest{Source: "test", Config: raw}); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	return &env{t: t, emu: emu, c: c, ctx: ctx}
}

// listing is the union of a ListFiles call's pages.
type listing struct {
	files   []sdk.File
	deleted []string
	orphans []string
	cursor  string
	pages   int
	done    bool
}

func (e *env) list(cursor string, entities ...string) (listing, error) {
	var l listing
	err := e.c.ListFiles(e.ctx, sdk.ListFilesRequest{Cursor: cursor, Entities: entities}, func(pg sdk.FilePage) error {
		l.files = append(l.files, pg.Files...)
		l.deleted = append(l.deleted, pg.Deleted...)
		l.orphans = append(l.orphans, pg.Orphans...)
		l.cursor = pg.Cursor
		l.pages++
		if l.done {
			e.t.Errorf("ListFiles(%q) sent page %d after its Done page", cursor, l.pages)
		}
		if pg.Cursor == "" {
			e.t.Errorf("ListFiles(%q) page %d has no cursor", cursor, l.pages)
		}
		l.done = pg.Done
		return nil
	})
	if err == nil && !l.done {
		e.t.Errorf("ListFiles(%q) ended without a Done page", cursor)
	}
	return l, err
}

func (e *env) mustList(cursor string, entities ...string) listing {
	e.t.Helper()
	l, err := e.list(cursor, entities...)
	if err != nil {
		e.t.Fatalf("ListFiles(%q): %v", cursor, err)
	}
	return l
}

func (e *env) read(id string, off, n int64) ([]byte, sdk.File, error) {
	rc, f, err := e.c.ReadFile(e.ctx, sdk.ReadFileRequest{ID: id, Offset: off, Length: n})
	if err != nil {
		return nil, f, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, f, err
}

func fileByPath(fs []sdk.File, display string) (sdk.File, bool) {
	for _, f := range fs {
		if f.Path == display {
			return f, true
		}
	}
	return sdk.File{}, false
}

// codeOf is the sdk error code of err, "" for nil.
func codeOf(err error) sdk.ErrorCode {
	if err == nil {
		return ""
	}
	return sdk.CodeOf(err)
}
