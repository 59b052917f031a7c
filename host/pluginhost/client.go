package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/synchub/synchub/sdk"
)

// errHostDeadline is the cause of a call context the host's own deadline (or
// idle timeout) ended, as opposed to the caller's.
var errHostDeadline = errors.New("plugin call timed out")

// hostClient is the sdk.Client a Host hands out: each call goes to the
// current process with the host's deadlines, and plugin failures become
// restarts and CodeUnavailable errors.
type hostClient struct{ h *Host }

var _ sdk.Client = (*hostClient)(nil)

// acquire waits for a running process until ctx's deadline, or at most
// CallTimeout when ctx has none.
func (c *hostClient) acquire(ctx context.Context) (*proc, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.h.opts.CallTimeout)
		defer cancel()
	}
	return c.h.acquire(ctx)
}

// do runs a unary call on the current process.
func (c *hostClient) do(ctx context.Context, call string, fn func(context.Context, sdk.Client) error) error {
	start := time.Now()
	p, err := c.acquire(ctx)
	if err != nil {
		c.h.opts.Metrics.call(c.h.opts.Source, call, time.Since(start), err)
		return err
	}
	return c.unary(ctx, p, call, fn)
}

// unary runs a unary call on p with the host's deadline, unless the
// caller's is earlier.
func (c *hostClient) unary(ctx context.Context, p *proc, call string, fn func(context.Context, sdk.Client) error) error {
	start := time.Now()
	cctx, cancel := ctx, context.CancelFunc(func() {})
	var hostDeadline time.Time
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > c.h.opts.CallTimeout {
		hostDeadline = start.Add(c.h.opts.CallTimeout)
		cctx, cancel = context.WithDeadlineCause(ctx, hostDeadline, errHostDeadline)
	}
	err := fn(cctx, p.client)
	// gRPC runs its own timer for the deadline and may give up a moment
	// before the context's cause is set.
	timedOut := !hostDeadline.IsZero() && !time.Now().Before(hostDeadline)
	err = c.callError(ctx, cctx, p, call, err, nil, timedOut)
	cancel()
	c.h.opts.Metrics.call(c.h.opts.Source, call, time.Since(start), err)
	return err
}

// stream runs a streaming call on the current process with the host's
// timeout applied per message (see watchdog).
func (c *hostClient) stream(ctx context.Context, call string, fn func(context.Context, sdk.Client, *watchdog) error) error {
	start := time.Now()
	p, err := c.acquire(ctx)
	if err == nil {
		w, wctx := newWatchdog(ctx, c.h.opts.CallTimeout)
		err = fn(wctx, p.client, w)
		err = c.callError(ctx, wctx, p, call, err, w, false)
		w.stop()
	}
	c.h.opts.Metrics.call(c.h.opts.Source, call, time.Since(start), err)
	return err
}

// callError decides what a failed call means: a host deadline means a hung
// plugin, which is killed (the supervisor restarts it); a broken connection
// means a dead one. Errors of the connector and of the caller's own
// callbacks and context pass through as they are.
func (c *hostClient) callError(parent, cctx context.Context, p *proc, call string, err error, w *watchdog, timedOut bool) error {
	if err == nil {
		return nil
	}
	if w != nil && w.consumerErr != nil && errors.Is(err, w.consumerErr) {
		return err
	}
	h := c.h
	if (timedOut || errors.Is(context.Cause(cctx), errHostDeadline)) && parent.Err() == nil {
		h.log.Error("plugin did not answer in time; killing it", "call", call, "timeout", h.opts.CallTimeout, "pid", p.pid)
		p.kill(fmt.Sprintf("plugin did not answer %s within %s", call, h.opts.CallTimeout))
		return &sdk.Error{Code: sdk.CodeUnavailable, Summary: fmt.Sprintf("plugin %s did not answer %s within %s; it was restarted",
			h.opts.Source, call, h.opts.CallTimeout)}
	}
	if parent.Err() != nil {
		return err
	}
	if h.ctx.Err() != nil {
		return &sdk.Error{Code: sdk.CodeUnavailable, Summary: fmt.Sprintf("plugin %s was stopped during %s", h.opts.Source, call),
			Detail: err.Error()}
	}
	switch sdk.CodeOf(err) {
	case sdk.CodeUnavailable, sdk.CodeInternal:
		if !p.alive(min(h.opts.CallTimeout, 5*time.Second)) {
			h.log.Debug("plugin call failed with the process", "call", call, "error", err)
			return &sdk.Error{Code: sdk.CodeUnavailable, Detail: p.exitReason(),
				Summary: fmt.Sprintf("plugin %s exited during %s", h.opts.Source, call)}
		}
	}
	return err
}

// watchdog is a stream's idle timeout: it cancels the call when the plugin
// has sent nothing for d. It is paused while the caller handles a message,
// so a slow consumer does not pass for a hung plugin.
type watchdog struct {
	d      time.Duration
	t      *time.Timer
	cancel context.CancelCauseFunc
	// consumerErr is the error the caller's callback returned, which ends
	// the stream but says nothing about the plugin.
	consumerErr error
}

func newWatchdog(ctx context.Context, d time.Duration) (*watchdog, context.Context) {
	wctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{d: d, cancel: cancel}
	w.t = time.AfterFunc(d, func() { cancel(errHostDeadline) })
	return w, wctx
}

func (w *watchdog) pause()  { w.t.Stop() }
func (w *watchdog) resume() { w.t.Reset(w.d) }

func (w *watchdog) stop() {
	w.t.Stop()
	w.cancel(context.Canceled)
}

// consume runs the caller's callback with the clock paused.
func (w *watchdog) consume(f func() error) error {
	w.pause()
	err := f()
	w.resume()
	if err != nil {
		w.consumerErr = err
	}
	return err
}

func (c *hostClient) Describe(ctx context.Context) (d sdk.Description, err error) {
	err = c.do(ctx, "Describe", func(ctx context.Context, cl sdk.Client) (err error) {
		d, err = cl.Describe(ctx)
		return err
	})
	return d, err
}

// Configure configures the current process. Restarts configure the new
// process with Options.Config, not with what was passed here.
func (c *hostClient) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	return c.do(ctx, "Configure", func(ctx context.Context, cl sdk.Client) error {
		return cl.Configure(ctx, req)
	})
}

func (c *hostClient) Check(ctx context.Context) (r sdk.CheckResult, err error) {
	err = c.do(ctx, "Check", func(ctx context.Context, cl sdk.Client) (err error) {
		r, err = cl.Check(ctx)
		return err
	})
	return r, err
}

func (c *hostClient) Schema(ctx context.Context, req sdk.SchemaRequest) (s sdk.Schema, err error) {
	err = c.do(ctx, "Schema", func(ctx context.Context, cl sdk.Client) (err error) {
		s, err = cl.Schema(ctx, req)
		return err
	})
	return s, err
}

func (c *hostClient) ResolveUser(ctx context.Context, req sdk.ResolveUserRequest) (id sdk.Identity, err error) {
	err = c.do(ctx, "ResolveUser", func(ctx context.Context, cl sdk.Client) (err error) {
		id, err = cl.ResolveUser(ctx, req)
		return err
	})
	return id, err
}

func (c *hostClient) Upload(ctx context.Context, req sdk.UploadRequest) (r sdk.UploadResponse, err error) {
	err = c.do(ctx, "Upload", func(ctx context.Context, cl sdk.Client) (err error) {
		r, err = cl.Upload(ctx, req)
		return err
	})
	return r, err
}

func (c *hostClient) Fetch(ctx context.Context, req sdk.FetchRequest, recv func(sdk.Page) error) error {
	return c.stream(ctx, "Fetch", func(ctx context.Context, cl sdk.Client, w *watchdog) error {
		return cl.Fetch(ctx, req, func(pg sdk.Page) error { return w.consume(func() error { return recv(pg) }) })
	})
}

func (c *hostClient) Deletions(ctx context.Context, req sdk.DeletionsRequest, recv func(sdk.DeletionPage) error) error {
	return c.stream(ctx, "Deletions", func(ctx context.Context, cl sdk.Client, w *watchdog) error {
		return cl.Deletions(ctx, req, func(pg sdk.DeletionPage) error { return w.consume(func() error { return recv(pg) }) })
	})
}

func (c *hostClient) ListIDs(ctx context.Context, req sdk.ListIDsRequest, recv func([]string) error) error {
	return c.stream(ctx, "ListIDs", func(ctx context.Context, cl sdk.Client, w *watchdog) error {
		return cl.ListIDs(ctx, req, func(ids []string) error { return w.consume(func() error { return recv(ids) }) })
	})
}

func (c *hostClient) ListFiles(ctx context.Context, req sdk.ListFilesRequest, recv func(sdk.FilePage) error) error {
	return c.stream(ctx, "ListFiles", func(ctx context.Context, cl sdk.Client, w *watchdog) error {
		return cl.ListFiles(ctx, req, func(pg sdk.FilePage) error { return w.consume(func() error { return recv(pg) }) })
	})
}

// ReadFile opens a file stream. The idle timeout runs while the caller waits
// in Read, not between Reads; Close ends the stream.
func (c *hostClient) ReadFile(ctx context.Context, req sdk.ReadFileRequest) (io.ReadCloser, sdk.File, error) {
	start := time.Now()
	p, err := c.acquire(ctx)
	if err != nil {
		c.h.opts.Metrics.call(c.h.opts.Source, "ReadFile", time.Since(start), err)
		return nil, sdk.File{}, err
	}
	w, wctx := newWatchdog(ctx, c.h.opts.CallTimeout)
	rc, f, err := p.client.ReadFile(wctx, req)
	if err != nil {
		err = c.callError(ctx, wctx, p, "ReadFile", err, w, false)
		w.stop()
		c.h.opts.Metrics.call(c.h.opts.Source, "ReadFile", time.Since(start), err)
		return nil, f, err
	}
	w.pause()
	c.h.opts.Metrics.call(c.h.opts.Source, "ReadFile", time.Since(start), nil)
	return &watchedBody{c: c, p: p, w: w, parent: ctx, ctx: wctx, rc: rc}, f, nil
}

// watchedBody is a ReadFile stream under the idle timeout.
type watchedBody struct {
	c      *hostClient
	p      *proc
	w      *watchdog
	parent context.Context
	ctx    context.Context
	rc     io.ReadCloser
}

func (b *watchedBody) Read(buf []byte) (int, error) {
	b.w.resume()
	n, err := b.rc.Read(buf)
	b.w.pause()
	if err != nil && err != io.EOF {
		err = b.c.callError(b.parent, b.ctx, b.p, "ReadFile", err, nil, false)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}

// WriteFile streams body to the plugin. The idle timeout runs while the
// plugin is being sent to or answers, not while body is being read.
func (c *hostClient) WriteFile(ctx context.Context, req sdk.WriteFileRequest, body io.Reader) (f sdk.File, err error) {
	err = c.stream(ctx, "WriteFile", func(ctx context.Context, cl sdk.Client, w *watchdog) (err error) {
		f, err = cl.WriteFile(ctx, req, &pausedReader{w: w, r: body})
		return err
	})
	return f, err
}

// pausedReader reads the caller's body with the idle clock paused.
type pausedReader struct {
	w *watchdog
	r io.Reader
}

func (r *pausedReader) Read(b []byte) (n int, err error) {
	r.w.pause()
	n, err = r.r.Read(b)
	r.w.resume()
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		r.w.consumerErr = err
	}
	return n, err
}
