// Package loopback serves an emulator's HTTP handler on a local listener:
// the start, stop and base URL every back-end emulator needs, in one place.
package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Server is a handler's listener. The zero value is ready; it serves once
// at a time.
type Server struct {
	mu   sync.Mutex
	srv  *http.Server
	base string
}

// Start listens on addr (host:port; ":0" ports pick a free one) and serves
// h, returning the base URL (http://host:port). A server already started
// returns its URL. what names the emulator in errors.
func (l *Server) Start(addr string, h http.Handler, log hclog.Logger, what string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv != nil {
		return l.base, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s: listen on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	l.srv, l.base = srv, "http://"+ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "error", err)
		}
	}()
	log.Info("listening", "url", l.base)
	return l.base, nil
}

// Close stops the listener: requests in flight get two seconds to finish.
func (l *Server) Close() {
	l.mu.Lock()
	srv := l.srv
	l.srv = nil
	l.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// URL is the base URL after Start ("" before).
func (l *Server) URL() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base
}
