package api

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/synchub/synchub/host/push"
	"github.com/synchub/synchub/host/store"
)

// Limits of GET .../changes.
const (
	defaultLimit = 500
	maxLimit     = 5000
	// flushEvery is how many ops are written between flushes: often enough
	// that a device sees progress, rarely enough that gzip still compresses.
	flushEvery = 64
)

// opJSON is one op on the wire.
type opJSON struct {
	Seq        int64           `json:"seq"`
	Partition  string          `json:"partition"`
	Entity     string          `json:"entity"`
	ID         string          `json:"id"`
	Op         string          `json:"op"`
	Version    string          `json:"version,omitempty"`
	ModifiedAt *time.Time      `json:"modified_at,omitempty"`
	Fields     json.RawMessage `json:"fields,omitempty"`
}

// changes is GET /v1/sources/{source}/changes.
func (s *Server) changes(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok {
		return
	}
	limit, ok := parseLimit(c)
	if !ok {
		return
	}
	who := callerOf(c)
	source := v.src.Name
	var prev map[string]int64
	var prevApplied int64
	if token := c.Query("checkpoint"); token != "" {
		cp, err := verifyCheckpoint(s.ckKey, token)
		if err != nil {
			abortError(c, http.StatusBadRequest, codeInvalidCheckpoint, err.Error())
			return
		}
		if msg := checkpointOwner(cp, who, source); msg != "" {
			s.log.Warn("checkpoint of another owner refused", "user", who.user.Name, "device", who.device.DeviceID,
				"source", source, "problem", msg)
			abortError(c, http.StatusBadRequest, codeCheckpointMismatch, msg)
			return
		}
		prev, prevApplied = cp.Seqs, cp.Applied
	}
	ctx := c.Request.Context()
	if s.puller != nil {
		fctx, cancel := context.WithTimeout(ctx, s.freshWait)
		if err := s.puller.EnsureFresh(fctx, source); err != nil {
			s.log.Warn("cannot freshen the mirror before a download; serving it as it is", "source", source, "error", err)
		}
		cancel()
	}

	// Read before the ops: every seq up to it is committed (seqs commit in
	// order), so a complete answer has seen all of them.
	sourceSeq, err := s.st.SourceSeq(ctx, source)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	since, reset, err := s.since(ctx, source, v.partitions, prev, sourceSeq)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	if prevApplied > sourceSeq {
		prevApplied = 0 // a database restored from an older backup
	}

	w := newChangeStream(c, reset)
	last, more, err := s.st.Changes(ctx, source, since, limit, w.op)
	if err == nil {
		next := make(map[string]int64, len(since))
		for p, seq := range since {
			next[p] = max(seq, last)
			if !more {
				next[p] = max(next[p], sourceSeq)
			}
		}
		// The device's mutations are reported once the answer covers
		// their seq: every op up to it has reached the device.
		through := sourceSeq
		if more {
			through = last
		}
		var (
			applied   []push.Applied
			reached   int64
			truncated bool
		)
		applied, reached, truncated, err = s.appliedFor(ctx, source, who.device.ID, prevApplied, through)
		if err == nil {
			token := signCheckpoint(s.ckKey, checkpoint{Version: checkpointVersion, Source: source,
				User: who.user.ID, Device: who.device.DeviceID, IssuedAt: s.now().Unix(), Seqs: next, Applied: reached})
			err = w.finish(more || truncated, token, applied)
		}
	}
	if err != nil {
		if !w.started {
			s.abortInternal(c, err)
			return
		}
		// The body has begun: cut the connection so the device never
		// takes a truncated answer for a complete one.
		if !errors.Is(err, context.Canceled) {
			s.log.Error("changes stream failed", "source", source, "user", who.user.Name, "error", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// checkpointOwner says what is wrong when cp is not the caller's checkpoint
// of source, or "" when it is.
func checkpointOwner(cp checkpoint, who *caller, source string) string {
	switch {
	case cp.User != who.user.ID:
		return "checkpoint belongs to another user"
	case cp.Device != who.device.DeviceID:
		return "checkpoint belongs to another device"
	case cp.Source != source:
		return "checkpoint belongs to another source"
	}
	return ""
}

// since computes the seq to read each subscribed partition from, and the
// partitions the device must clear: those that left the subscription, and
// those that restart from 0 because their seq is below the partition's
// tombstone floor, or above the source's seq (the database was restored
// from an older backup: the device holds data the hub no longer knows).
func (s *Server) since(ctx context.Context, source string, partitions []string, prev map[string]int64, sourceSeq int64) (map[string]int64, []string, error) {
	since := make(map[string]int64, len(partitions))
	reset := []string{}
	var check []string
	for _, p := range partitions {
		since[p] = prev[p] // a partition new to the subscription starts at 0
		switch {
		case since[p] > sourceSeq:
			since[p] = 0
			reset = append(reset, p)
		case since[p] > 0:
			check = append(check, p)
		}
	}
	for p := range prev {
		if _, ok := since[p]; !ok {
			reset = append(reset, p)
		}
	}
	if len(check) > 0 {
		floors, err := s.st.PartitionFloors(ctx, source, check)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range check {
			if since[p] < floors[p] {
				since[p] = 0
				reset = append(reset, p)
			}
		}
	}
	slices.Sort(reset)
	return since, reset, nil
}

func parseLimit(c *gin.Context) (int, bool) { return queryLimit(c, defaultLimit, maxLimit) }

// queryLimit reads the limit query parameter (def when absent), answering
// 400 itself when it is not an integer from 1 to most.
func queryLimit(c *gin.Context, def, most int) (int, bool) {
	raw, given := c.GetQuery("limit")
	if !given || raw == "" {
		return def, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > most {
		abortError(c, http.StatusBadRequest, codeInvalidParameter,
			fmt.Sprintf("limit must be an integer from 1 to %d, not %q", most, raw))
		return 0, false
	}
	return n, true
}

// changeStream writes the changes body as the ops arrive:
//
//	{"reset":[...],"ops":[op,op,...],"has_more":b,"checkpoint":"...","applied":[]}
//
// Nothing is written before the first op (or the end), so an error before
// that still gets a proper error response.
type changeStream struct {
	c       *gin.Context
	reset   []string
	gzip    bool
	gz      *gzip.Writer
	out     io.Writer
	enc     *json.Encoder
	buf     []byte // one op's JSON
	n       int
	started bool
}

func newChangeStream(c *gin.Context, reset []string) *changeStream {
	return &changeStream{c: c, reset: reset, gzip: acceptsGzip(c.GetHeader("Accept-Encoding"))}
}

func (w *changeStream) start() error {
	w.started = true
	h := w.c.Writer.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	w.out = w.c.Writer
	if w.gzip {
		h.Set("Content-Encoding", "gzip")
		w.gz = gzipWriters.Get().(*gzip.Writer)
		w.gz.Reset(w.c.Writer)
		w.out = w.gz
	}
	w.c.Status(http.StatusOK)
	w.enc = json.NewEncoder(w.out)
	w.enc.SetEscapeHTML(false)
	if _, err := io.WriteString(w.out, `{"reset":`); err != nil {
		return err
	}
	if err := w.enc.Encode(w.reset); err != nil {
		return err
	}
	_, err := io.WriteString(w.out, `,"ops":[`)
	return err
}

// op writes one op; it runs while the store's rows are open.
func (w *changeStream) op(op store.ChangeOp) error {
	if !w.started {
		if err := w.start(); err != nil {
			return err
		}
	}
	if w.n > 0 {
		if _, err := io.WriteString(w.out, ","); err != nil {
			return err
		}
	}
	j := opJSON{Seq: op.Seq, Partition: op.Partition, Entity: op.Entity, ID: op.ID, Op: "put",
		Version: op.Version, ModifiedAt: op.ModifiedAt, Fields: op.Fields}
	if op.Removed {
		j = opJSON{Seq: op.Seq, Partition: op.Partition, Entity: op.Entity, ID: op.ID, Op: "remove"}
	}
	var err error
	if w.buf, err = appendOp(w.buf[:0], j); err != nil {
		return fmt.Errorf("encode op %d: %w", op.Seq, err)
	}
	if _, err := w.out.Write(w.buf); err != nil {
		return err
	}
	w.n++
	if w.n%flushEvery == 0 {
		return w.flush()
	}
	return nil
}

func (w *changeStream) flush() error {
	if w.gz != nil {
		if err := w.gz.Flush(); err != nil {
			return err
		}
	}
	w.c.Writer.Flush()
	return nil
}

// finish writes the end of the body.
func (w *changeStream) finish(more bool, token string, applied []push.Applied) error {
	if !w.started {
		// No ops (a poll with nothing new, the common case): a body of a
		// few hundred bytes, not worth a compressor.
		w.gzip = false
		if err := w.start(); err != nil {
			return err
		}
	}
	tail := struct {
		HasMore    bool   `json:"has_more"`
		Checkpoint string `json:"checkpoint"`
	}{more, token}
	b, _ := json.Marshal(tail)
	// b is {"has_more":...,"checkpoint":"..."}: splice its members in.
	if _, err := io.WriteString(w.out, "],"); err != nil {
		return err
	}
	if _, err := w.out.Write(b[1 : len(b)-1]); err != nil {
		return err
	}
	if applied == nil {
		applied = []push.Applied{}
	}
	tailApplied, err := json.Marshal(applied)
	if err != nil {
		return fmt.Errorf("encode applied: %w", err)
	}
	if _, err := io.WriteString(w.out, `,"applied":`+string(tailApplied)+"}\n"); err != nil {
		return err
	}
	if w.gz != nil {
		if err := w.gz.Close(); err != nil {
			return err
		}
		gzipWriters.Put(w.gz)
		w.gz = nil
	}
	w.c.Writer.Flush()
	return nil
}

// gzipWriters are reused compressors (each holds about a megabyte of
// state). BestSpeed: the changes stream is mostly JSON of similar records,
// which compresses well at any level, and the hub's CPU serves the devices.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// acceptsGzip reads an Accept-Encoding header: gzip (or x-gzip) with a
// non-zero q, or "*" when gzip is not named.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(param), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				} else {
					q = 0
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "gzip", "x-gzip":
			gzipQ = max(gzipQ, q)
		case "*":
			starQ = max(starQ, q)
		}
	}
	return gzipQ > 0 || (gzipQ < 0 && starQ > 0)
}
