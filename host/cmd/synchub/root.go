package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/synchub/synchub/host/config"
	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type globals struct {
	logFormat string
	logLevel  string
}

func (g *globals) logger(name string) hclog.Logger {
	json := g.logFormat == "json"
	if g.logFormat == "" {
		json = !term.IsTerminal(int(os.Stderr.Fd()))
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.LevelFromString(g.logLevel),
		Output:     os.Stderr,
		JSONFormat: json,
	})
}

// applyConfig takes the config's log settings where no flag overrides
// them; def is the format when neither says.
func (g *globals) applyConfig(cmd *cobra.Command, cfg *config.Config, def string) {
	if !cmd.Flags().Changed("log-format") {
		g.logFormat = cfg.Hub.LogFormat
		if g.logFormat == "" {
			g.logFormat = def
		}
	}
	if !cmd.Flags().Changed("log-level") && cfg.Hub.LogLevel != "" {
		g.logLevel = cfg.Hub.LogLevel
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "synchub",
		Short:         "The sync hub between business back ends and offline mobile devices",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch g.logFormat {
			case "", "json", "human":
			default:
				return fmt.Errorf("--log-format must be json or human, not %q", g.logFormat)
			}
			if hclog.LevelFromString(g.logLevel) == hclog.NoLevel {
				return fmt.Errorf("--log-level must be trace, debug, info, warn or error, not %q", g.logLevel)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "log format: json or human (default: human on a terminal, json otherwise)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	root.AddCommand(versionCmd(), pluginsCmd(g), validateCmd(g), emulateCmd(g), serveCmd(g), devCmd(g))
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the hub's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "synchub %s (plugin protocol %d)\n", v, protocolVersion)
		},
	}
}
