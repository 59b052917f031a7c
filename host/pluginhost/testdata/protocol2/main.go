// Command protocol2 is a plugin from the future, for the plugin host's tests.
// Built as "protocol2" it offers only protocol version 2 in the go-plugin
// handshake. Built as "describe2" it passes the handshake as version 1 but
// its Describe claims version 2.
package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/synchub/synchub/sdk"
	pb "github.com/synchub/synchub/sdk/proto"
)

type server struct {
	pb.UnimplementedConnectorServer
}

func (server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Name: "future", Version: "9.0.0", ProtocolVersion: 2}, nil
}

type grpcPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterConnectorServer(s, server{})
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	version := 2
	if strings.Contains(filepath.Base(os.Args[0]), "describe2") {
		version = sdk.ProtocolVersion
	}
	hs := sdk.Handshake
	hs.ProtocolVersion = uint(version)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]plugin.PluginSet{version: {sdk.PluginName: grpcPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
