package sdk

import (
	"context"
	"os"
	"runtime/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/synchub/synchub/internal/gcdefault"
	pb "github.com/synchub/synchub/sdk/proto"
)

// CPUProfileEnv names the variable that makes Serve write a CPU profile of
// the plugin process, from its start until the hub stops it, to the file it
// names (go tool pprof reads it). The hub passes it with hub.Options.PluginEnv.
const CPUProfileEnv = "SYNCHUB_PLUGIN_CPUPROFILE"

// startCPUProfile starts the CPU profile Serve writes to path.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// PluginName is the name the connector service has in go-plugin's plugin set.
const PluginName = "connector"

// Handshake is the go-plugin handshake both sides share. The magic cookie
// only keeps a plugin binary from being run by hand; it is not security.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SYNCHUB_PLUGIN",
	MagicCookieValue: "7b1c2f0e-synchub-connector",
}

// VersionedPlugins is the plugin set per protocol version the host offers.
func VersionedPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &GRPCPlugin{}}}
}

// GRPCDialOptions are the host side's gRPC options (raised message limits).
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}
}

// GRPCServerOptions are the plugin side's (the same limits).
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes)}
}

// GRPCPlugin is the go-plugin glue for the connector service. Partners do not
// use it; Serve and the host do.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Connector
}

// GRPCServer registers the connector service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterConnectorServer(s, newGRPCServer(p.Impl))
	return nil
}

// GRPCClient returns a Client over the plugin's connection.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}

// Serve runs c as a plugin process. It never returns while the hub runs, and
// the process exits when the hub that started it dies (even by SIGKILL).
// Connectors must not print to stdout: stdout carries the handshake.
func Serve(c Connector) {
	log := hclog.New(&hclog.LoggerOptions{
		Name:       c.Describe().Name,
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      hclog.Trace,
	})
	if l, ok := c.(ConfigureLogger); ok {
		l.SetLogger(log)
	}
	gcdefault.Apply()
	if os.Getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue {
		go exitWithParent(log, os.Getppid(), 200*time.Millisecond)
	}
	if path := os.Getenv(CPUProfileEnv); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			log.Error("cpu profile: not written", "path", path, "error", err)
		} else {
			defer stop()
		}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &GRPCPlugin{Impl: c}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, GRPCServerOptions()...)...)
		},
		Logger: log,
	})
}

// exitWithParent ends the process once its parent is gone: the kernel then
// re-parents it, so its parent pid changes. go-plugin does not do this, and
// a hub killed with SIGKILL would otherwise leave its plugins running.
func exitWithParent(log hclog.Logger, parent int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() != parent {
			log.Warn("hub process is gone; plugin exits", "parent_pid", parent)
			os.Exit(3)
		}
	}
}
