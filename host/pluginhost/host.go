package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/sdk"
)

// Defaults of Options.
const (
	DefaultCallTimeout    = 2 * time.Minute
	DefaultMaxRestarts    = 5
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultHealthInterval = 10 * time.Second
)

// stableAfter is how long a process must have run for its crash to count as
// a new incident rather than one more failure of a crash loop.
const stableAfter = time.Minute

// Phase is where a Host's plugin is in its life.
type Phase int

// The phases.
const (
	// Stopped: not started yet, or stopped by Stop.
	Stopped Phase = iota
	// Starting: Start or Restart is launching and configuring the plugin.
	Starting
	// Running: the plugin serves calls.
	Running
	// Restarting: the plugin died; the host relaunches it after a backoff.
	// Calls wait for it.
	Restarting
	// Failed: the plugin failed to start, or crashed MaxRestarts times in a
	// row. Calls fail fast until Restart.
	Failed
)

var phases = []Phase{Stopped, Starting, Running, Restarting, Failed}

// String returns the phase's lower-case name.
func (p Phase) String() string {
	switch p {
	case Stopped:
		return "stopped"
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Restarting:
		return "restarting"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// MarshalText renders the phase's name (for the admin API's JSON).
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// State is a snapshot of a Host.
type State struct {
	Phase Phase
	// LastError is why the plugin last died or failed to start (nil if it
	// never did).
	LastError error
	// Restarts counts the relaunches since Start; ConsecutiveFailures the
	// crashes and failed launches of the current crash loop.
	Restarts            int
	ConsecutiveFailures int
	// PID is the running process's id (0 when none runs).
	PID int
	// Since is when Phase was entered.
	Since time.Time
}

// Options configure a Host.
type Options struct {
	// Source is the admin's name for the source; it names logs, metrics and
	// errors, and is passed to Configure.
	Source string
	// Binary is the plugin to run (from Discover).
	Binary Binary
	// Config is the source's connector config as JSON, handed to Configure
	// at every (re)start.
	Config json.RawMessage
	// CallTimeout bounds a call (a stream: the wait for each message).
	// Default DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxRestarts is how many consecutive relaunches are tried before the
	// source is FAILED. Default DefaultMaxRestarts.
	MaxRestarts int
	// MinBackoff and MaxBackoff bound the exponential wait between
	// relaunches. Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how often the plugin is pinged. Default
	// DefaultHealthInterval.
	HealthInterval time.Duration
	// StartTimeout bounds the launch up to the end of the handshake. Default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// Env lists extra "KEY=value" variables for the plugin process, which
	// otherwise gets none of the hub's environment (e.g. HTTPS_PROXY).
	Env []string
	// Logger receives the host's and the plugin's logs, named after the
	// source. Default: no logs.
	Logger hclog.Logger
	// Metrics, when set, records restarts, state and calls.
	Metrics *Metrics
}

// Host supervises the plugin process of one source. Its methods are safe
// for concurrent use.
type Host struct {
	opts   Options
	log    hclog.Logger
	client *hostClient

	// ctx ends with Stop; relaunches and their Configure calls use it.
	ctx    context.Context
	cancel context.CancelFunc

	reqs     chan startRequest
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	started  bool
	stopped  bool          // Stop was called
	changed  chan struct{} // closed and replaced on every change of the fields below
	phase    Phase
	since    time.Time
	lastErr  error
	restarts int
	failures int
	cur      *proc
}

type startRequest struct {
	ctx   context.Context
	reply chan error
}

// New returns a Host for one source; Start launches the plugin.
func New(opts Options) *Host {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.MaxRestarts <= 0 {
		opts.MaxRestarts = DefaultMaxRestarts
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = DefaultHealthInterval
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	h := &Host{
		opts: opts,
		// go-plugin relays a plugin's JSON log lines with the plugin's own
		// @module, which hides the logger's name: the source travels as a
		// key/value pair too.
		log:     opts.Logger.Named(opts.Source).With("source", opts.Source),
		reqs:    make(chan startRequest),
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		phase:   Stopped,
		since:   time.Now(),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.client = &hostClient{h: h}
	opts.Metrics.setState(opts.Source, Stopped)
	return h
}

// Client returns the source's connector. It stays valid across restarts:
// each call goes to the current process and, while a restart is in
// progress, waits for it up to the call's deadline.
func (h *Host) Client() sdk.Client { return h.client }

// State returns a snapshot of the host's state.
func (h *Host) State() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := State{Phase: h.phase, LastError: h.lastErr, Restarts: h.restarts, ConsecutiveFailures: h.failures, Since: h.since}
	if h.cur != nil && h.phase == Running {
		s.PID = h.cur.pid
	}
	return s
}

// Start launches the plugin and configures it with Options.Config. The
// connector's Configure error is returned as is, so the admin reads the
// connector's own diagnostic; the source is then FAILED until Restart.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return h.stoppedError()
	}
	if h.started {
		h.mu.Unlock()
		return fmt.Errorf("plugin %s: already started", h.opts.Source)
	}
	h.started = true
	h.mu.Unlock()
	go h.run()
	return h.request(ctx)
}

// Restart stops the plugin if it runs and starts it again, clearing FAILED
// and the crash-loop count. It is the admin's way out of FAILED.
func (h *Host) Restart(ctx context.Context) error {
	h.mu.Lock()
	started := h.started
	h.mu.Unlock()
	if !started {
		return fmt.Errorf("plugin %s: not started", h.opts.Source)
	}
	return h.request(ctx)
}

func (h *Host) request(ctx context.Context) error {
	r := startRequest{ctx: ctx, reply: make(chan error, 1)}
	select {
	case h.reqs <- r:
	case <-h.done:
		return h.stoppedError()
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.reply
}

// Stop ends the plugin process and the supervision. Calls fail afterwards.
// It is safe to call more than once, and without Start.
func (h *Host) Stop() {
	h.mu.Lock()
	h.stopped = true
	started := h.started
	h.mu.Unlock()
	h.stopOnce.Do(func() {
		h.cancel()
		close(h.stopCh)
	})
	if started {
		<-h.done
	}
}

// run is the supervisor: the only goroutine that launches, replaces and
// retires processes.
func (h *Host) run() {
	defer close(h.done)
	bo := &backoff.ExponentialBackOff{InitialInterval: h.opts.MinBackoff, RandomizationFactor: 0.2,
		Multiplier: 2, MaxInterval: h.opts.MaxBackoff}
	bo.Reset()
	var (
		p     *proc
		retry <-chan time.Time
	)
	for {
		var dead <-chan struct{}
		if p != nil {
			dead = p.dead
		}
		select {
		case <-h.stopCh: // Stop wins over anything else pending
			h.shutdown(p)
			return
		default:
		}
		select {
		case <-h.stopCh:
			h.shutdown(p)
			return

		case r := <-h.reqs:
			if p != nil {
				h.log.Info("restarting plugin on request", "pid", p.pid)
				p.stop()
				p = nil
			}
			retry = nil
			bo.Reset()
			h.mu.Lock()
			h.failures = 0
			h.mu.Unlock()
			h.setPhase(Starting, nil, nil)
			// The launch ends early when either the caller gives up or the
			// host stops.
			ctx, cancel := context.WithCancel(r.ctx)
			unhook := context.AfterFunc(h.ctx, cancel)
			np, err := h.startProc(ctx)
			unhook()
			cancel()
			if err != nil {
				h.log.Error("plugin failed to start", "error", err)
				h.setPhase(Failed, err, nil)
				r.reply <- err
				continue
			}
			p = np
			h.setPhase(Running, nil, p)
			r.reply <- nil

		case <-dead:
			reason := p.exitReason()
			uptime := time.Since(p.started)
			p.release()
			h.log.Error("plugin process died", "pid", p.pid, "reason", reason, "uptime", uptime.Round(time.Millisecond))
			p = nil
			if uptime >= stableAfter {
				bo.Reset()
				h.mu.Lock()
				h.failures = 0
				h.mu.Unlock()
			}
			retry = h.scheduleRestart(errors.New(reason), bo)

		case <-retry:
			retry = nil
			np, err := h.startProc(h.ctx)
			if err != nil {
				if h.ctx.Err() != nil {
					continue // stopping
				}
				h.log.Error("plugin failed to restart", "error", err)
				retry = h.scheduleRestart(err, bo)
				continue
			}
			p = np
			h.log.Info("plugin restarted", "pid", p.pid)
			h.setPhase(Running, nil, p)
		}
	}
}

// shutdown ends the supervision for Stop.
func (h *Host) shutdown(p *proc) {
	if p != nil {
		p.stop()
	}
	h.setPhase(Stopped, nil, nil)
}

// scheduleRestart counts a failure and returns when to relaunch, or marks
// the source FAILED when the crash loop has gone on long enough.
func (h *Host) scheduleRestart(cause error, bo backoff.BackOff) <-chan time.Time {
	h.mu.Lock()
	if h.failures >= h.opts.MaxRestarts {
		h.mu.Unlock()
		h.log.Error("plugin keeps failing; giving up until an admin restarts it", "restarts", h.opts.MaxRestarts, "error", cause)
		h.setPhase(Failed, cause, nil)
		return nil
	}
	h.failures++
	h.restarts++
	h.mu.Unlock()
	h.opts.Metrics.restart(h.opts.Source)
	h.setPhase(Restarting, cause, nil)
	wait := bo.NextBackOff()
	h.log.Info("restarting plugin", "in", wait.Round(time.Millisecond))
	return time.After(wait)
}

// startProc launches the plugin and configures it.
func (h *Host) startProc(ctx context.Context) (*proc, error) {
	p, err := launch(ctx, h.opts.Binary, launchOptions{log: h.log, env: h.opts.Env,
		startTimeout: h.opts.StartTimeout, callTimeout: h.opts.CallTimeout})
	if err != nil {
		return nil, err
	}
	err = h.client.unary(ctx, p, "Configure", func(ctx context.Context, c sdk.Client) error {
		return c.Configure(ctx, sdk.ConfigureRequest{Source: h.opts.Source, Config: h.opts.Config})
	})
	if err != nil {
		p.kill("")
		return nil, err
	}
	go p.healthLoop(h.opts.HealthInterval, min(h.opts.CallTimeout, 5*time.Second), h.log)
	return p, nil
}

// setPhase records a change; a nil cause keeps the last error.
func (h *Host) setPhase(phase Phase, cause error, p *proc) {
	h.mu.Lock()
	if cause != nil {
		h.lastErr = cause
	}
	h.phase, h.since, h.cur = phase, time.Now(), p
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
	h.opts.Metrics.setState(h.opts.Source, phase)
}

// acquire returns the running process, waiting through a restart up to
// ctx's end.
func (h *Host) acquire(ctx context.Context) (*proc, error) {
	for {
		h.mu.Lock()
		phase, p, changed, lastErr, started := h.phase, h.cur, h.changed, h.lastErr, h.started
		h.mu.Unlock()
		switch phase {
		case Running:
			if !p.isDead() {
				return p, nil
			}
		case Failed:
			return nil, h.failedError()
		case Stopped:
			if !started {
				return nil, &sdk.Error{Code: sdk.CodeUnavailable, Summary: fmt.Sprintf("plugin %s is not started", h.opts.Source)}
			}
			return nil, h.stoppedError()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			e := &sdk.Error{Code: sdk.CodeUnavailable, Err: ctx.Err(),
				Summary: fmt.Sprintf("plugin %s is %s and was not back before the call's deadline", h.opts.Source, phase)}
			if lastErr != nil {
				e.Detail = lastErr.Error()
			}
			return nil, e
		}
	}
}

func (h *Host) failedError() error {
	h.mu.Lock()
	n, last := h.failures, h.lastErr
	h.mu.Unlock()
	msg := "unknown error"
	if last != nil {
		msg = last.Error()
	}
	return &sdk.Error{Code: sdk.CodeUnavailable, Summary: fmt.Sprintf(
		"plugin %s FAILED after %d restarts: %s; restart it with POST /v1/admin/sources/%s/restart",
		h.opts.Source, n, msg, h.opts.Source)}
}

func (h *Host) stoppedError() error {
	return &sdk.Error{Code: sdk.CodeUnavailable, Summary: fmt.Sprintf("plugin %s is stopped", h.opts.Source)}
}
