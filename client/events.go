package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxEventRetry caps the event stream's reconnect backoff.
const maxEventRetry = time.Minute

// sseEvent is one server-sent event.
type sseEvent struct {
	ID    string
	Event string
	Data  string
	Retry time.Duration
}

// WatchChanges follows the hub's event stream of a source
// (GET /v1/sources/{source}/events) and calls notify for each "changes"
// event, and once after every reconnect (events may have been missed while
// the stream was down). It reconnects with exponential backoff (from
// Options.EventRetry, default 1s, up to a minute), sending Last-Event-ID,
// until ctx ends; it returns nil then. A lost session ends it with an
// error.
func (c *Client) WatchChanges(ctx context.Context, source string, notify func(source string)) error {
	base := c.opts.EventRetry
	if base <= 0 {
		base = time.Second
	}
	delay := base
	lastID := ""
	reconnect := false
	for {
		connected, err := c.streamEvents(ctx, source, &lastID, func(ev sseEvent) {
			if ev.Retry > 0 {
				base = ev.Retry
			}
			if ev.Event == "changes" {
				notify(source)
			}
		}, func() {
			if reconnect {
				notify(source)
			}
			reconnect = true
		})
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrSessionExpired) || errors.Is(err, ErrNotLoggedIn) {
			return fmt.Errorf("events of %s: %w", source, err)
		}
		if connected {
			delay = base
		}
		c.log.Debug("event stream ended: reconnecting", "source", source, "error", err, "in", delay)
		jitter := time.Duration(rand.Int64N(int64(delay)/5 + 1))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay + jitter):
		}
		delay = min(delay*2, maxEventRetry)
	}
}

// streamEvents reads one connection of the event stream until it ends.
// connected reports whether the hub accepted the stream.
func (c *Client) streamEvents(ctx context.Context, source string, lastID *string, on func(sseEvent), onOpen func()) (connected bool, err error) {
	path := sourcePath(source, "/events")
	resp, err := c.authed(ctx, func(ctx context.Context, acct *accountRow) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, acct.HubURL+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Cache-Control", "no-cache")
		if *lastID != "" {
			req.Header.Set("Last-Event-ID", *lastID)
		}
		return req, nil
	})
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, readAPIError("GET "+path, resp)
	}
	onOpen()
	err = readSSE(resp.Body, func(ev sseEvent) {
		if ev.ID != "" {
			*lastID = ev.ID
		}
		on(ev)
	})
	return true, err
}

// readSSE parses a text/event-stream body (the WHATWG format: fields
// event, data, id, retry; comments start with ':'; a blank line ends an
// event).
func readSSE(r io.Reader, on func(sseEvent)) error {
	br := bufio.NewReader(r)
	var ev sseEvent
	var data []string
	has := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if has {
				ev.Data = strings.Join(data, "\n")
				if ev.Event == "" {
					ev.Event = "message"
				}
				on(ev)
			}
			ev, data, has = sseEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Event, has = value, true
		case "data":
			data, has = append(data, value), true
		case "id":
			ev.ID, has = value, true
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
				ev.Retry, has = time.Duration(ms)*time.Millisecond, true
			}
		}
	}
}
