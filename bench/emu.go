package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
)

// Credentials the emulator accepts (its defaults).
const (
	emuTenant = "synchub-tenant"
	emuClient = "synchub-dev"
	emuSecret = "synchub-dev"
)

// crm is a Dataverse emulator served by the bench process behind a thin
// recorder: it keeps the first full-pull page request the connector makes
// (URL and headers), so the ceiling loop can ask for exactly the same
// pages, and it counts the time spent inside the emulator and the bytes it
// served.
type crm struct {
	*emulator.Server
	endpoint
	srv *http.Server

	mu    sync.Mutex
	first *http.Request // the first data page of a full pull of accounts

	busy  atomic.Int64 // nanoseconds spent in the handler
	bytes atomic.Int64 // response bytes
}

// startCRM builds an emulator holding n accounts of about 1 KB (and the
// seed's few users) and serves it on 127.0.0.1.
func startCRM(n int, opts emulator.Options) (*crm, error) {
	opts.Accounts, opts.ContactsPerAccount, opts.NotesPerAccount = -1, -1, -1
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	s := emulator.New(opts)
	if n > 0 {
		s.AddRecords("accounts", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("emulator: listen: %w", err)
	}
	c := &crm{Server: s, endpoint: endpoint{base: "http://" + ln.Addr().String()}}
	inner := s.Handler()
	c.srv = &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.record(r)
		start := time.Now()
		cw := &countingWriter{ResponseWriter: w}
		inner.ServeHTTP(cw, r)
		c.busy.Add(int64(time.Since(start)))
		c.bytes.Add(cw.n)
	})}
	go func() {
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return c, nil
}

func (c *crm) record(r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/accounts") {
		return
	}
	q := r.URL.Query()
	if q.Get("$select") == "" || q.Get("$skiptoken") != "" || q.Get("$deltatoken") != "" || q.Get("$filter") != "" {
		return
	}
	c.mu.Lock()
	if c.first == nil {
		c.first = r.Clone(context.Background())
	}
	c.mu.Unlock()
}

// firstPage is the recorded first page request of a full pull: its
// request URI and headers (Authorization removed).
func (c *crm) firstPage() (string, http.Header, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == nil {
		return "", nil, false
	}
	h := c.first.Header.Clone()
	h.Del("Authorization")
	h.Del("Accept-Encoding")
	h.Del("User-Agent")
	return c.first.URL.RequestURI(), h, true
}

// endpoint is where an emulator serves: its base URL, and the token
// endpoint and client credentials the connector uses there.
type endpoint struct{ base string }

// tokenURL is the client-credentials endpoint.
func (c endpoint) tokenURL() string { return c.base + "/" + emuTenant + "/oauth2/v2.0/token" }

// busyTime is the time spent in the emulator so far.
func (c *crm) busyTime() time.Duration { return time.Duration(c.busy.Load()) }

func (c *crm) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
}

// token gets an access token the way the connector does.
func (c endpoint) token(ctx context.Context, hc *http.Client) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {emuClient},
		"client_secret": {emuSecret}, "scope": {c.base + "/.default"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeJSON(resp, &tok); err != nil {
		return "", fmt.Errorf("emulator token: %w", err)
	}
	return tok.AccessToken, nil
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
