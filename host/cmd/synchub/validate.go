package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/hub"
)

func validateCmd(g *globals) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a config: parse it, launch each source's plugin, run Check and Schema",
		Long: `validate parses the config, launches each source's plugin, configures it,
runs Check (connectivity and credentials) and Schema, and checks every
configured entity, field and filter against the connector, and resolves the
users' logins. Each problem is printed with the config file's line and
column (a login the back end does not know is one; a back end that cannot
be asked about a login is a warning); the exit status is non-zero when there
is any problem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			srcs, err := hub.StartSources(ctx, cfg, hub.SourceOptions{Logger: g.logger("validate")})
			if err != nil {
				return err
			}
			defer srcs.Stop()
			out := cmd.OutOrStdout()
			for _, name := range srcs.Names() {
				src, _ := srcs.Get(name)
				fmt.Fprintf(out, "source %s: plugin %s %s, signed in as %s, %d entities ok\n",
					name, src.Desc.Name, src.Desc.Version, identityName(src), len(src.Config.Entities))
			}
			warnings, err := srcs.CheckLogins(cfg)
			for _, w := range warnings {
				fmt.Fprintf(out, "warning: %s\n", w)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: ok\n", cfgPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func identityName(src *hub.Source) string {
	if src.Identity.Name != "" {
		return fmt.Sprintf("%s (%s)", src.Identity.Name, src.Identity.ID)
	}
	return src.Identity.ID
}
