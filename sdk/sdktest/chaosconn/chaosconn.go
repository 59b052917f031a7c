// Package chaosconn is a connector that misbehaves on command, used only in
// tests to prove that the hub's plugin host survives crashes, hangs, panics,
// garbage and throttling (plugins/chaos serves it as a plugin binary).
//
// What it does is chosen per call by the entity name of a Fetch or Upload:
// an entity named after a mode ("hang", "panic", ...) behaves that way, any
// other entity behaves as the config's "mode" says ("ok" when unset). So one
// plugin process can be told per call, and a test can also configure a whole
// source to misbehave.
//
// It must not be used by anything but tests: it exits, hangs and panics on
// purpose.
package chaosconn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/sdk"
)

// The modes. Each is also an entity name that selects it for one call.
const (
	// ModeOK sends Config.Pages pages of Config.PageRecords records with
	// cursors "1", "2", ... and resumes after the page a cursor names.
	ModeOK = "ok"
	// ModeCrashMidStream sends Config.After pages, then exits the process
	// with status 2. With Config.CrashOnceFile set it crashes only when that
	// file does not exist yet (creating it first), so the restarted plugin
	// completes the pass.
	ModeCrashMidStream = "crash_mid_stream"
	// ModeHang sends Config.After pages, then blocks forever, ignoring its
	// context.
	ModeHang = "hang"
	// ModeGarbage sends a page holding a record without an id, which the SDK
	// refuses.
	ModeGarbage = "garbage"
	// ModeGarbageJSON sends a record whose fields are not valid JSON, which
	// the host refuses.
	ModeGarbageJSON = "garbage_json"
	// ModeThrottle answers a *sdk.Error of code CodeThrottled with a
	// RetryAfter of one second.
	ModeThrottle = "throttle"
	// ModeOversized sends a record of 20 MiB, over sdk.MaxRecordBytes.
	ModeOversized = "oversized"
	// ModePanic panics inside Fetch or Upload.
	ModePanic = "panic"
)

var modes = map[string]bool{ModeOK: true, ModeCrashMidStream: true, ModeHang: true, ModeGarbage: true,
	ModeGarbageJSON: true, ModeThrottle: true, ModeOversized: true, ModePanic: true}

// Config is the connector's config (the source's `config` object).
type Config struct {
	// Mode is the behaviour of calls whose entity does not name a mode.
	Mode string `json:"mode,omitempty"`
	// Pages is how many pages a full pass has (default 3).
	Pages int `json:"pages,omitempty"`
	// PageRecords is how many records a page holds (default 2).
	PageRecords int `json:"page_records,omitempty"`
	// After is how many pages crash_mid_stream and hang send first (default 1).
	After int `json:"after,omitempty"`
	// CrashOnceFile makes crash_mid_stream crash only while this file does
	// not exist; the connector creates it just before crashing.
	CrashOnceFile string `json:"crash_once_file,omitempty"`
	// ExitOnConfigureFile makes Configure exit the process (status 2) while
	// this file exists: a plugin that crashes on every start.
	ExitOnConfigureFile string `json:"exit_on_configure_file,omitempty"`
	// EnvVar names an environment variable Check reports in its Message as
	// NAME=value, so a test can see what environment the plugin got.
	EnvVar string `json:"env_var,omitempty"`
}

// Connector is the chaos connector.
type Connector struct {
	log hclog.Logger
	cfg Config
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.Fetcher         = (*Connector)(nil)
	_ sdk.Uploader        = (*Connector)(nil)
	_ sdk.ConfigureLogger = (*Connector)(nil)
)

// New returns an unconfigured chaos connector.
func New() *Connector {
	return &Connector{log: hclog.NewNullLogger(), cfg: defaults(Config{})}
}

// SetLogger receives the SDK's logger.
func (c *Connector) SetLogger(l hclog.Logger) { c.log = l }

// Describe names the connector.
func (c *Connector) Describe() sdk.Description {
	return sdk.Description{Name: "chaos", Version: "0.1.0", ConfigSchema: []sdk.ConfigField{
		{Name: "mode", Type: "string", Doc: "behaviour of calls whose entity names no mode"},
		{Name: "pages", Type: "int", Doc: "pages in a full pass"},
		{Name: "page_records", Type: "int", Doc: "records per page"},
		{Name: "after", Type: "int", Doc: "pages sent before crashing or hanging"},
		{Name: "crash_once_file", Type: "string", Doc: "crash only while this file does not exist"},
		{Name: "exit_on_configure_file", Type: "string", Doc: "exit in Configure while this file exists"},
		{Name: "env_var", Type: "string", Doc: "environment variable Check reports"},
	}}
}

func defaults(cfg Config) Config {
	if cfg.Mode == "" {
		cfg.Mode = ModeOK
	}
	if cfg.Pages <= 0 {
		cfg.Pages = 3
	}
	if cfg.PageRecords <= 0 {
		cfg.PageRecords = 2
	}
	if cfg.After <= 0 {
		cfg.After = 1
	}
	return cfg
}

// Configure reads the config.
func (c *Connector) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	var cfg Config
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return err
	}
	if cfg.Mode != "" && !modes[cfg.Mode] {
		return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: "mode", Summary: "unknown chaos mode", Detail: cfg.Mode}
	}
	if cfg.ExitOnConfigureFile != "" {
		if _, err := os.Stat(cfg.ExitOnConfigureFile); err == nil {
			c.log.Error("chaos: exiting in Configure as told", "file", cfg.ExitOnConfigureFile)
			os.Exit(2)
		}
	}
	c.cfg = defaults(cfg)
	c.log.Info("chaos configured", "mode", c.cfg.Mode)
	return nil
}

// Check reports the environment variable Config.EnvVar names and the names
// of all variables the process got.
func (c *Connector) Check(ctx context.Context) (sdk.CheckResult, error) {
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	sort.Strings(names)
	res := sdk.CheckResult{Identity: sdk.Identity{ID: "chaos", Name: "Chaos Monkey",
		Attributes: map[string]string{"env_names": strings.Join(names, ","), "pid": strconv.Itoa(os.Getpid())}}}
	if c.cfg.EnvVar != "" {
		res.Message = c.cfg.EnvVar + "=" + os.Getenv(c.cfg.EnvVar)
	}
	return res, nil
}

// Schema describes any entity asked for with an id, a number and a blob.
func (c *Connector) Schema(ctx context.Context, req sdk.SchemaRequest) (sdk.Schema, error) {
	var s sdk.Schema
	for _, name := range req.Entities {
		s.Entities = append(s.Entities, sdk.EntitySchema{Name: name, Key: "id", Deletes: sdk.DeletesNone,
			Fields: []sdk.Field{{Name: "id", Type: sdk.TypeString}, {Name: "n", Type: sdk.TypeInt}, {Name: "blob", Type: sdk.TypeText}}})
	}
	return s, nil
}

func (c *Connector) mode(entity string) string {
	if modes[entity] {
		return entity
	}
	return c.cfg.Mode
}

// RecordID is the id of the n-th record (1-based) of a pass, so a test can
// check a resumed pass for gaps and duplicates.
func RecordID(n int) string { return fmt.Sprintf("r%04d", n) }

// Fetch misbehaves as the mode says.
func (c *Connector) Fetch(ctx context.Context, req sdk.FetchRequest, send func(sdk.Page) error) error {
	mode := c.mode(req.Entity)
	switch mode {
	case ModePanic:
		panic("chaos: told to panic in Fetch")
	case ModeThrottle:
		return &sdk.Error{Code: sdk.CodeThrottled, Entity: req.Entity, Summary: "chaos: throttled", RetryAfter: time.Second}
	case ModeGarbage:
		return send(sdk.Page{Records: []sdk.Record{{ID: "", Fields: map[string]any{"n": 1}}}, Cursor: "1"})
	case ModeGarbageJSON:
		return send(sdk.Page{Records: []sdk.Record{{ID: "g1", Raw: json.RawMessage(`{"n": 1,`)}}, Cursor: "1"})
	case ModeOversized:
		blob := strings.Repeat("x", 20<<20)
		return send(sdk.Page{Records: []sdk.Record{{ID: "big", Fields: map[string]any{"blob": blob}}}, Cursor: "1", Done: true})
	}
	first := 1
	if req.Cursor != "" {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil || n < 0 || n > c.cfg.Pages {
			return &sdk.Error{Code: sdk.CodeCursorExpired, Entity: req.Entity, Summary: "cursor expired", Detail: req.Cursor}
		}
		first = n + 1
	}
	per := c.cfg.PageRecords
	for page := first; page <= c.cfg.Pages; page++ {
		if page == c.cfg.After+1 {
			switch {
			case mode == ModeCrashMidStream && c.crashNow():
				c.log.Error("chaos: crashing mid-stream as told", "entity", req.Entity, "page", page)
				// Give gRPC a moment to flush the pages already sent, so the
				// host sees a crash in the middle of a stream.
				time.Sleep(200 * time.Millisecond)
				os.Exit(2)
			case mode == ModeHang:
				c.log.Warn("chaos: hanging as told", "entity", req.Entity, "page", page)
				<-make(chan struct{})
			}
		}
		pg := sdk.Page{Cursor: strconv.Itoa(page), Done: page == c.cfg.Pages}
		for i := 1; i <= per; i++ {
			n := (page-1)*per + i
			pg.Records = append(pg.Records, sdk.Record{ID: RecordID(n), Version: "1", Fields: map[string]any{"id": RecordID(n), "n": n}})
		}
		if err := send(pg); err != nil {
			return err
		}
	}
	if first > c.cfg.Pages {
		return send(sdk.Page{Cursor: strconv.Itoa(c.cfg.Pages), Done: true})
	}
	return nil
}

// crashNow says whether crash_mid_stream crashes this time.
func (c *Connector) crashNow() bool {
	if c.cfg.CrashOnceFile == "" {
		return true
	}
	f, err := os.OpenFile(c.cfg.CrashOnceFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false // it exists: crashed before
	}
	_ = f.Close()
	return true
}

// Upload applies every op, unless its entity names a mode: throttle answers
// CodeThrottled, panic panics, hang hangs, crash_mid_stream exits.
func (c *Connector) Upload(ctx context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	var resp sdk.UploadResponse
	for _, op := range req.Ops {
		switch c.mode(op.Entity) {
		case ModePanic:
			panic("chaos: told to panic in Upload")
		case ModeThrottle:
			return resp, &sdk.Error{Code: sdk.CodeThrottled, Entity: op.Entity, Summary: "chaos: throttled", RetryAfter: time.Second}
		case ModeHang:
			<-make(chan struct{})
		case ModeCrashMidStream:
			if c.crashNow() {
				os.Exit(2)
			}
		}
		id := op.ID
		resp.Results = append(resp.Results, sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusApplied, ID: id,
			Record: &sdk.Record{ID: id, Version: "2", Fields: op.Fields}})
	}
	return resp, nil
}
