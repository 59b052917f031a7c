package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/headerjson"
)

// fakeClock is a settable clock for token expiry and budget windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// client talks to a started emulator like a connector would.
type client struct {
	t     *testing.T
	srv   *Server
	base  string
	token string
}

func start(t *testing.T, opts Options) *client {
	t.Helper()
	if opts.Records == nil {
		opts.Records = []RecordFolder{{Entity: "account", Name: "Contoso", ID: "acc-1"}, {Entity: "contact", Name: "Ada", ID: "con-1"}}
	}
	s := New(opts)
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &client{t: t, srv: s, base: base, token: s.Options().AccessToken}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body is not a JSON object: %v\n%s", r.status, err, r.body)
	}
	return m
}

// summary returns a JSON error's error_summary.
func (r reply) summary(t *testing.T) string {
	t.Helper()
	s, _ := r.json(t)["error_summary"].(string)
	return s
}

func (c *client) do(req *http.Request) reply {
	c.t.Helper()
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// rpc calls an RPC route with a JSON argument (nil: no body).
func (c *client) rpc(route string, arg any) reply {
	c.t.Helper()
	var body io.Reader
	if arg != nil {
		raw, _ := json.Marshal(arg)
		body = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+"/2/"+route, body)
	if arg != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req)
}

// content calls a content route with header-safe arguments and a body.
func (c *client) content(route string, arg any, body []byte, hdr map[string]string) reply {
	c.t.Helper()
	a, err := headerjson.Marshal(arg)
	if err != nil {
		c.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+"/2/"+route, bytes.NewReader(body))
	req.Header.Set("Dropbox-API-Arg", a)
	if strings.Contains(route, "upload") {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

// entries lists a folder in full (following has_more).
func (c *client) entries(path string, recursive, deleted bool) ([]map[string]any, string) {
	c.t.Helper()
	r := c.rpc("files/list_folder", map[string]any{"path": path, "recursive": recursive, "include_deleted": deleted, "limit": 3})
	var all []map[string]any
	for {
		if r.status != http.StatusOK {
			c.t.Fatalf("list %s: %d %s", path, r.status, r.body)
		}
		var page struct {
			Entries []map[string]any `json:"entries"`
			Cursor  string           `json:"cursor"`
			HasMore bool             `json:"has_more"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			c.t.Fatal(err)
		}
		all = append(all, page.Entries...)
		if !page.HasMore {
			return all, page.Cursor
		}
		r = c.rpc("files/list_folder/continue", map[string]string{"cursor": page.Cursor})
	}
}

// continueAll follows a cursor to the end.
func (c *client) continueAll(cursor string) ([]map[string]any, string) {
	c.t.Helper()
	var all []map[string]any
	for {
		r := c.rpc("files/list_folder/continue", map[string]string{"cursor": cursor})
		if r.status != http.StatusOK {
			c.t.Fatalf("continue: %d %s", r.status, r.body)
		}
		var page struct {
			Entries []map[string]any `json:"entries"`
			Cursor  string           `json:"cursor"`
			HasMore bool             `json:"has_more"`
		}
		_ = json.Unmarshal(r.body, &page)
		all, cursor = append(all, page.Entries...), page.Cursor
		if !page.HasMore {
			return all, cursor
		}
	}
}

func paths(es []map[string]any) []string {
	var out []string
	for _, e := range es {
		out = append(out, e[".tag"].(string)+" "+e["path_lower"].(string))
	}
	return out
}
