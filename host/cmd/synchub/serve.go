package main

import (
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/hub"
)

func serveCmd(g *globals) *cobra.Command {
	var cfgPath, listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: device and admin API, pulls, pushes, plugins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Hub.Listen = listen
			}
			g.applyConfig(cmd, cfg, "json")
			log := g.logger("synchub")
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			h, err := hub.Open(ctx, hub.Options{Config: cfg, Logger: log})
			if err != nil {
				return err
			}
			defer h.Close()
			return h.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (required)")
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (overrides hub.listen)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
