package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/synchub/synchub/sdk"
)

// DefaultStartTimeout bounds a plugin's start up to the end of the handshake.
const DefaultStartTimeout = 10 * time.Second

// Info is what Inspect learns about a plugin binary.
type Info struct {
	Name            string
	Version         string
	ProtocolVersion int
	Capabilities    []sdk.Capability
	ConfigSchema    []sdk.ConfigField
	SHA256          string
	Path            string
}

// Inspect starts bin once, asks it to describe itself and stops it. The
// error says clearly when bin is not a synchub plugin, speaks another
// protocol version or fails its checksum.
func Inspect(ctx context.Context, bin Binary, log hclog.Logger) (Info, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	p, err := launch(ctx, bin, launchOptions{log: log.Named(bin.Name), startTimeout: DefaultStartTimeout, callTimeout: 30 * time.Second})
	if err != nil {
		return Info{}, err
	}
	defer p.stop()
	d := p.desc
	return Info{Name: d.Name, Version: d.Version, ProtocolVersion: d.ProtocolVersion, Capabilities: d.Capabilities,
		ConfigSchema: d.ConfigSchema, SHA256: bin.SHA256, Path: bin.Path}, nil
}

type launchOptions struct {
	log          hclog.Logger
	env          []string
	startTimeout time.Duration
	callTimeout  time.Duration
}

// proc is one running plugin process.
type proc struct {
	bin     Binary
	pc      *plugin.Client
	cmd     *exec.Cmd
	conn    *grpc.ClientConn
	client  sdk.Client
	desc    sdk.Description
	pid     int
	started time.Time
	// dead is closed once the process has exited.
	dead chan struct{}

	mu     sync.Mutex
	reason string // why the host killed it; "" when it exited on its own

	releaseOnce sync.Once
	tmpDir      string // the plugin's TMPDIR, removed on release
}

// launch starts bin, completes the handshake and checks the protocol
// version the plugin's Describe reports.
func launch(ctx context.Context, bin Binary, o launchOptions) (*proc, error) {
	cmd := exec.Command(bin.Path)
	cmd.Env = append(append([]string(nil), o.env...), runtimeEnv(os.LookupEnv, o.env)...)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		// Plugins must not inherit the hub's environment (database URLs,
		// other sources' secrets): they get their config through Configure.
		SkipHostEnv:     true,
		GRPCDialOptions: sdk.GRPCDialOptions(),
		Logger:          o.log,
		StartTimeout:    o.startTimeout,
		Managed:         false,
	}
	if pin := bin.SHA256; pin != "" {
		sum, err := hex.DecodeString(pin)
		if err != nil {
			return nil, fmt.Errorf("plugin %s (%s): bad pinned sha256 %q", bin.Name, bin.Path, pin)
		}
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	// The plugin's socket and temp files go to a private directory the host
	// removes when the process is gone: a killed plugin cannot remove its
	// socket itself.
	var tmpDir string
	if !hasEnv(o.env, "TMPDIR") {
		dir, err := os.MkdirTemp("", "synchub-plugin-")
		if err != nil {
			return nil, fmt.Errorf("plugin %s: temp directory: %w", bin.Name, err)
		}
		tmpDir = dir
		cmd.Env = append(cmd.Env, "TMPDIR="+dir)
	}
	pc := plugin.NewClient(cfg)
	rpc, err := pc.Client()
	if err != nil {
		pc.Kill()
		removeTmp(tmpDir)
		return nil, startError(bin, o.startTimeout, err)
	}
	p := &proc{bin: bin, pc: pc, cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), dead: make(chan struct{}), tmpDir: tmpDir}
	go p.watch()
	fail := func(err error) (*proc, error) {
		p.kill("")
		return nil, err
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		return fail(fmt.Errorf("plugin %s (%s): not a synchub plugin: it does not speak gRPC", bin.Name, bin.Path))
	}
	p.conn = gc.Conn
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return fail(fmt.Errorf("plugin %s (%s): not a synchub plugin: %w", bin.Name, bin.Path, err))
	}
	if p.client, ok = raw.(sdk.Client); !ok {
		return fail(fmt.Errorf("plugin %s (%s): not a synchub plugin: dispensed %T", bin.Name, bin.Path, raw))
	}
	dctx, cancel := context.WithTimeout(ctx, o.callTimeout)
	p.desc, err = p.client.Describe(dctx)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("plugin %s (%s): Describe: %w", bin.Name, bin.Path, err))
	}
	if v := p.desc.ProtocolVersion; v != sdk.ProtocolVersion {
		return fail(versionError(bin, v))
	}
	return p, nil
}

func versionError(bin Binary, v int) error {
	return fmt.Errorf("plugin %s (%s) speaks protocol version %d; this hub supports %d (use a plugin built with a matching SDK)",
		bin.Name, bin.Path, v, sdk.ProtocolVersion)
}

// go-plugin reports a failed version negotiation only as text.
var reIncompatible = regexp.MustCompile(`incompatible API version with plugin\. Plugin version: (\d+)`)

// startError turns go-plugin's start failures into messages an admin can act on.
func startError(bin Binary, timeout time.Duration, err error) error {
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		got, herr := fileSHA256(bin.Path)
		if herr != nil {
			got = "unreadable (" + herr.Error() + ")"
		}
		if bin.ExpectedSHA256 == "" {
			return fmt.Errorf("plugin %s: %s changed since the hub verified it: sha256 was %s, the file has %s; refusing to run it",
				bin.Name, bin.Path, bin.SHA256, got)
		}
		return checksumError(bin.Name, bin.Path, bin.SHA256, got)
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("plugin %s (%s): cannot start it: %w", bin.Name, bin.Path, err)
	}
	msg := err.Error()
	if m := reIncompatible.FindStringSubmatch(msg); m != nil {
		v, _ := strconv.Atoi(m[1])
		return versionError(bin, v)
	}
	if strings.Contains(msg, "timeout while waiting for plugin to start") {
		return fmt.Errorf("plugin %s (%s): did not complete the plugin handshake within %s (is it a synchub plugin?): %w",
			bin.Name, bin.Path, timeout, err)
	}
	const unrecognized = "Unrecognized remote plugin message: "
	if rest, ok := strings.CutPrefix(msg, unrecognized); ok {
		if line, _, _ := strings.Cut(rest, "\n"); line != "" {
			// go-plugin's own text adds only guesses that do not apply here.
			return fmt.Errorf("plugin %s (%s): not a synchub plugin: it printed %q on stdout before the handshake "+
				"(a plugin must not write to stdout; log to stderr through hclog)", bin.Name, bin.Path, line)
		}
	}
	return fmt.Errorf("plugin %s (%s): not a synchub plugin: %w", bin.Name, bin.Path, err)
}

// watch closes p.dead when the process has exited. go-plugin exposes the
// exit only as Exited(), so it is polled.
func (p *proc) watch() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if p.pc.Exited() {
			close(p.dead)
			return
		}
	}
}

// ending reports whether the process is gone or the host is ending it.
func (p *proc) ending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason != "" || p.isDead()
}

func (p *proc) isDead() bool {
	select {
	case <-p.dead:
		return true
	default:
		return false
	}
}

// kill ends the process at once (SIGKILL; a hung or frozen plugin cannot be
// asked to stop) and waits for go-plugin to release it. reason, when not
// "", records why the host killed it.
func (p *proc) kill(reason string) {
	p.mu.Lock()
	if reason != "" && p.reason == "" && !p.isDead() {
		p.reason = reason
	}
	p.mu.Unlock()
	_ = p.cmd.Process.Kill() // os.Process is safe against pid reuse and concurrent Wait
	p.release()
}

// release lets go-plugin clean up after the process (its Kill also stops a
// process still running) and waits until the process is gone.
func (p *proc) release() {
	p.releaseOnce.Do(func() {
		p.pc.Kill()
		<-p.dead
		removeTmp(p.tmpDir)
	})
	<-p.dead
}

func removeTmp(dir string) {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// runtimeVars are the hub's environment variables a plugin gets too: the
// Go runtime's collector settings (gcdefault), so that an operator sets
// them once for every synchub process. They carry no secret.
var runtimeVars = []string{"GOGC", "GOMEMLIMIT"}

// runtimeEnv returns the runtimeVars the hub's environment (lookup) sets
// and the plugin's own env does not.
func runtimeEnv(lookup func(string) (string, bool), env []string) []string {
	var out []string
	for _, name := range runtimeVars {
		if v, ok := lookup(name); ok && !hasEnv(env, name) {
			out = append(out, name+"="+v)
		}
	}
	return out
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// stop asks the plugin to exit, killing it when it does not within a few
// seconds (go-plugin's graceful shutdown has no deadline of its own).
func (p *proc) stop() {
	p.mu.Lock()
	if p.reason == "" && !p.isDead() {
		p.reason = "stopped by the host"
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.release(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// exitReason says why a dead process ended.
func (p *proc) exitReason() string {
	p.mu.Lock()
	reason := p.reason
	p.mu.Unlock()
	if reason == "" {
		reason = "plugin process exited unexpectedly"
	}
	// cmd.ProcessState is written before go-plugin marks the process exited,
	// under the lock Exited() takes, so reading it after dead is safe.
	if p.isDead() && p.cmd.ProcessState != nil {
		reason += " (" + p.cmd.ProcessState.String() + ")"
	}
	return reason
}

// ping asks go-plugin's gRPC health service whether the plugin serves.
func (p *proc) ping(ctx context.Context) error {
	_, err := grpc_health_v1.NewHealthClient(p.conn).Check(ctx,
		&grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

// alive tells, after a failed call, whether the process still serves. A
// process that does not is killed so the supervisor restarts it.
func (p *proc) alive(timeout time.Duration) bool {
	if p.isDead() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.ping(ctx); err != nil {
		// A process that crashed is reaped within moments; only one that
		// lingers without serving is killed.
		select {
		case <-p.dead:
		case <-time.After(time.Second):
			p.kill("plugin stopped answering: " + err.Error())
		}
		return false
	}
	return true
}

// healthLoop pings every interval until the process is gone, and kills it
// when a ping fails.
func (p *proc) healthLoop(interval, timeout time.Duration, log hclog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.dead:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := p.ping(ctx)
		cancel()
		if err != nil && !p.ending() {
			log.Error("plugin failed its health check; killing it", "pid", p.pid, "error", err)
			p.kill(fmt.Sprintf("plugin failed its health check: %v", err))
			return
		}
	}
}
