package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

// recorder is a tb that records failures instead of failing the test, so a
// case can be run against a broken connector and be seen to fail.
type recorder struct {
	mu              sync.Mutex
	failed, skipped bool
	lines           []string
}

func (r *recorder) Helper() {}

func (r *recorder) Logf(format string, args ...any) { r.add(false, format, args...) }

func (r *recorder) Errorf(format string, args ...any) { r.add(true, format, args...) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.add(true, format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	r.add(false, format, args...)
	runtime.Goexit()
}

func (r *recorder) add(fail bool, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = r.failed || fail
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// record runs one case on its own goroutine, as the testing package runs a
// test, so that Fatalf and Skipf can end it.
func record(t *testing.T, cfg Config, m mode, name string, entity string) *recorder {
	t.Helper()
	var c testCase
	for _, cc := range cases {
		if cc.name == name {
			c = cc
		}
	}
	if c.run == nil {
		t.Fatalf("no case %q", name)
	}
	var e EntityConfig
	for _, ec := range cfg.Entities {
		if ec.Name == entity {
			e = ec
		}
	}
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runCase(t, r, cfg, m, c, e)
	}()
	<-done
	return r
}

// memBackend edits the memconn that New made last.
type memBackend struct{ m **memconn.Connector }

func (b memBackend) Put(entity string, fields map[string]any) (string, error) {
	return (*b.m).Put(entity, fields).ID, nil
}

func (b memBackend) Update(entity, id string, fields map[string]any) error {
	f := map[string]any{"id": id}
	for k, v := range fields {
		f[k] = v
	}
	(*b.m).Put(entity, f)
	return nil
}

func (b memBackend) Delete(entity, id string) error { (*b.m).Delete(entity, id); return nil }

// configFor is a memconn config whose connectors wrap receives.
func configFor(wrap func(*memconn.Connector) sdk.Connector) Config {
	var current *memconn.Connector
	return Config{
		New:        func(*testing.T) sdk.Connector { current = memconn.New(); return wrap(current) },
		ConfigJSON: json.RawMessage(`{"seed": 25}`),
		Backend:    memBackend{&current},
		PageSize:   10,
		User:       UserConfig{Login: "user1@example.com", ID: "u1"},
		Entities: []EntityConfig{{
			Name: "account", Filter: "city eq 'Paris'", Writable: true,
			NewRecord: func(i int) map[string]any { return map[string]any{"name": fmt.Sprintf("New %d", i)} },
			Update:    func(r sdk.Record) map[string]any { return map[string]any{"city": "Rome"} },
		}},
	}
}

// The broken connectors, each wrong in one way.
type (
	// repeater puts the first record of each page at the head of the next.
	repeater struct{ *memconn.Connector }
	// cursorIgnorer serves a full pass whatever the request says.
	cursorIgnorer struct{ *memconn.Connector }
	// filterIgnorer drops the pushed-down filter.
	filterIgnorer struct{ *memconn.Connector }
	// deletionHider drops inline deletions.
	deletionHider struct{ *memconn.Connector }
	// keyIgnorer creates every record anew under its own id.
	keyIgnorer struct{ *memconn.Connector }
	// versionIgnorer applies updates whatever their base version.
	versionIgnorer struct{ *memconn.Connector }
	// anyLogin resolves every login, known or not, to the first user.
	anyLogin struct{ *memconn.Connector }
)

func (c anyLogin) ResolveUser(ctx context.Context, _ sdk.ResolveUserRequest) (sdk.Identity, error) {
	return c.Connector.ResolveUser(ctx, sdk.ResolveUserRequest{Login: "user1@example.com"})
}

func (c repeater) Fetch(ctx context.Context, req sdk.FetchRequest, send func(sdk.Page) error) error {
	var prev *sdk.Record
	return c.Connector.Fetch(ctx, req, func(pg sdk.Page) error {
		if len(pg.Records) > 0 {
			first := pg.Records[0]
			if prev != nil {
				pg.Records[0] = *prev
			}
			prev = &first
		}
		return send(pg)
	})
}

func (c cursorIgnorer) Fetch(ctx context.Context, req sdk.FetchRequest, send func(sdk.Page) error) error {
	req.Cursor, req.Incremental = "", false
	return c.Connector.Fetch(ctx, req, send)
}

func (c filterIgnorer) Fetch(ctx context.Context, req sdk.FetchRequest, send func(sdk.Page) error) error {
	req.Filter = nil
	return c.Connector.Fetch(ctx, req, send)
}

func (c deletionHider) Fetch(ctx context.Context, req sdk.FetchRequest, send func(sdk.Page) error) error {
	return c.Connector.Fetch(ctx, req, func(pg sdk.Page) error { pg.Deleted = nil; return send(pg) })
}

func (c keyIgnorer) Upload(ctx context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	mutations := map[string]string{} // our mutation id -> the host's
	req.Ops = slices.Clone(req.Ops)
	for i, op := range req.Ops {
		if op.Kind == sdk.OpCreate {
			req.Ops[i].ID, req.Ops[i].MutationID = "", uuid.NewString()
			mutations[req.Ops[i].MutationID] = op.MutationID
		}
	}
	resp, err := c.Connector.Upload(ctx, req)
	for i, r := range resp.Results {
		if host, ok := mutations[r.MutationID]; ok {
			resp.Results[i].MutationID = host
		}
	}
	return resp, err
}

func (c versionIgnorer) Upload(ctx context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	req.Ops = slices.Clone(req.Ops)
	for i := range req.Ops {
		req.Ops[i].BaseVersion = ""
	}
	return c.Connector.Upload(ctx, req)
}

func TestTheSuiteFailsBrokenConnectors(t *testing.T) {
	tests := []struct {
		name   string
		wrap   func(*memconn.Connector) sdk.Connector
		cases  []string
		entity string
	}{
		{"a_record_repeated_on_the_next_page_fails_fetch_full",
			func(m *memconn.Connector) sdk.Connector { return repeater{m} }, []string{"fetch_full"}, "account"},
		{"an_ignored_cursor_fails_the_incremental_resume_and_future_cursor_cases",
			func(m *memconn.Connector) sdk.Connector { return cursorIgnorer{m} },
			[]string{"fetch_incremental", "fetch_resume", "cursor_from_future"}, "account"},
		{"an_ignored_filter_fails_filter_pushdown",
			func(m *memconn.Connector) sdk.Connector { return filterIgnorer{m} }, []string{"filter_pushdown"}, "account"},
		{"hidden_inline_deletions_fail_fetch_incremental",
			func(m *memconn.Connector) sdk.Connector { return deletionHider{m} }, []string{"fetch_incremental"}, "account"},
		{"a_create_made_twice_on_replay_fails_upload_replayed_create",
			func(m *memconn.Connector) sdk.Connector { return keyIgnorer{m} }, []string{"upload_replayed_create_applies_once"}, "account"},
		{"an_ignored_base_version_fails_upload_stale_update",
			func(m *memconn.Connector) sdk.Connector { return versionIgnorer{m} }, []string{"upload_stale_update_conflicts"}, "account"},
		{"a_resolver_that_finds_every_login_fails_resolve_user",
			func(m *memconn.Connector) sdk.Connector { return anyLogin{m} }, []string{"resolve_user"}, ""},
	}
	healthy := configFor(func(m *memconn.Connector) sdk.Connector { return m })
	for _, tt := range tests {
		broken := configFor(tt.wrap)
		for _, m := range modes {
			for _, c := range tt.cases {
				t.Run(tt.name+"/"+m.name+"/"+c, func(t *testing.T) {
					if r := record(t, healthy, m, c, tt.entity); r.failed || r.skipped {
						t.Fatalf("the case does not pass against memconn itself:\n%s", strings.Join(r.lines, "\n"))
					}
					r := record(t, broken, m, c, tt.entity)
					if !r.failed {
						t.Errorf("the case passes against the broken connector:\n%s", strings.Join(r.lines, "\n"))
					}
					t.Logf("the case reports:\n%s", strings.Join(r.lines, "\n"))
				})
			}
		}
	}
}
