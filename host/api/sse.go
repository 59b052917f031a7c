package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/synchub/synchub/host/events"
	"github.com/synchub/synchub/host/store"
)

// eventStream is GET /v1/sources/{source}/events: server-sent events that
// announce changes in the caller's partitions. It runs until the client
// leaves or the server closes.
func (s *Server) eventStream(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok {
		return
	}
	lastSeen := int64(-1) // no Last-Event-ID: no catch-up
	if raw := strings.TrimSpace(c.GetHeader("Last-Event-ID")); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			abortError(c, http.StatusBadRequest, codeInvalidParameter,
				fmt.Sprintf("Last-Event-ID must be a seq (a non-negative integer), not %q", raw))
			return
		}
		lastSeen = n
	}
	source := v.src.Name
	// Subscribe before looking back, so nothing committed in between is
	// missed (at worst it is announced twice).
	ch, cancel := s.events.Subscribe(source, v.partitions)
	defer cancel()

	ctx := c.Request.Context()
	var catchUp *events.Event
	if lastSeen >= 0 {
		since := make(map[string]int64, len(v.partitions))
		for _, p := range v.partitions {
			since[p] = lastSeen
		}
		// One row is enough to know the caller's partitions moved on.
		var newer int64
		if _, _, err := s.st.Changes(ctx, source, since, 1, func(op store.ChangeOp) error {
			newer = op.Seq
			return nil
		}); err != nil {
			s.abortInternal(c, err)
			return
		}
		if newer > 0 {
			seq, err := s.st.SourceSeq(ctx, source)
			if err != nil {
				s.abortInternal(c, err)
				return
			}
			catchUp = &events.Event{Source: source, Seq: max(seq, newer)}
		}
	}

	// A stream outlives any write timeout the http.Server may set.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	// The retry hint and a first comment tell the client the stream is up.
	if _, err := fmt.Fprintf(c.Writer, "retry: 5000\n: connected to %s\n\n", source); err != nil {
		return
	}
	if catchUp != nil {
		if writeEvent(c, *catchUp) != nil {
			return
		}
	}
	c.Writer.Flush()

	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	// The stream ends when the access token that opened it expires; the
	// client reconnects with a fresh one (and Last-Event-ID).
	expired := time.NewTimer(callerOf(c).token.ExpiresAt.Sub(s.now()))
	defer expired.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case <-expired.C:
			return
		case ev, open := <-ch:
			if !open {
				return
			}
			if writeEvent(c, ev) != nil {
				return
			}
		case <-beat.C:
			if _, err := fmt.Fprint(c.Writer, ": heartbeat\n\n"); err != nil {
				return
			}
		}
		c.Writer.Flush()
	}
}

func writeEvent(c *gin.Context, ev events.Event) error {
	data, _ := json.Marshal(ev)
	_, err := fmt.Fprintf(c.Writer, "id: %d\nevent: changes\ndata: %s\n\n", ev.Seq, data)
	return err
}
