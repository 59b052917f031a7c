package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for token and delta-token expiry.
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
	http  *http.Client
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
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

func (r reply) errorOf(t *testing.T) (code, message string) {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error member in %s", r.body)
	}
	c, _ := e["code"].(string)
	m, _ := e["message"].(string)
	return c, m
}

// start runs a server on 127.0.0.1 and returns a client holding a token.
func start(t *testing.T, opts Options) *client {
	t.Helper()
	if opts.Accounts == 0 {
		opts.Accounts = 12
	}
	srv := New(opts)
	base, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c := &client{t: t, srv: srv, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	c.token = c.fetchToken(srv.opts.ClientID, srv.opts.ClientSecret)
	return c
}

func (c *client) fetchToken(id, secret string) string {
	c.t.Helper()
	r := c.postForm(c.srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {id},
		"client_secret": {secret}, "scope": {c.base + "/.default"}})
	if r.status != http.StatusOK {
		return ""
	}
	tok, _ := r.json(c.t)["access_token"].(string)
	return tok
}

func (c *client) postForm(u string, form url.Values) reply {
	c.t.Helper()
	resp, err := c.http.PostForm(u, form)
	if err != nil {
		c.t.Fatal(err)
	}
	return read(c.t, resp)
}

func read(t *testing.T, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// do sends a request; path is relative to the API root unless it is absolute.
func (c *client) do(method, path string, body any, headers ...string) reply {
	c.t.Helper()
	r, err := c.try(method, path, body, headers...)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *client) try(method, path string, body any, headers ...string) (reply, error) {
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.srv.APIURL() + "/" + path
	}
	u = strings.ReplaceAll(u, " ", "%20")
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	return read(c.t, resp), nil
}

func (c *client) mustStatus(r reply, want int) {
	c.t.Helper()
	if r.status != want {
		c.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
}

// pageAll follows @odata.nextLink and returns every row plus the final deltaLink.
func (c *client) pageAll(first string, headers ...string) ([]map[string]any, string) {
	c.t.Helper()
	var rows []map[string]any
	link := first
	for pages := 0; link != ""; pages++ {
		if pages > 10000 {
			c.t.Fatal("too many pages")
		}
		r := c.do("GET", link, nil, headers...)
		c.mustStatus(r, http.StatusOK)
		m := r.json(c.t)
		for _, v := range m["value"].([]any) {
			rows = append(rows, v.(map[string]any))
		}
		next, _ := m["@odata.nextLink"].(string)
		if next == "" {
			delta, _ := m["@odata.deltaLink"].(string)
			return rows, delta
		}
		link = next
	}
	return rows, ""
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// with returns a copy of c that reports failures to t (a subtest).
func (c *client) with(t *testing.T) *client {
	cc := *c
	cc.t = t
	return &cc
}
