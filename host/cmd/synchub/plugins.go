package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pluginhost"
	"github.com/synchub/synchub/sdk"
)

const protocolVersion = sdk.ProtocolVersion

func pluginsCmd(g *globals) *cobra.Command {
	var dir, cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins: name, version, protocol version, capabilities, sha256",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var specs []pluginhost.Spec
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("dir") {
					dir = cfg.Hub.PluginDir
				}
				for _, p := range cfg.Plugins {
					specs = append(specs, pluginhost.Spec{Name: p.Name, Path: p.Path, SHA256: p.SHA256})
				}
			}
			bins, discoverErr := pluginhost.Discover(dir, specs)
			log := g.logger("plugins")
			if log.GetLevel() == hclog.Info {
				log.SetLevel(hclog.Warn) // a plugin's start and stop are noise here
			}
			var infos []pluginhost.Info
			errs := []error{discoverErr}
			for _, b := range bins {
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				info, err := pluginhost.Inspect(ctx, b, log)
				cancel()
				if err != nil {
					errs = append(errs, err)
					continue
				}
				infos = append(infos, info)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(infos); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tCAPABILITIES\tSHA256\tPATH")
				for _, in := range infos {
					caps := make([]string, len(in.Capabilities))
					for i, c := range in.Capabilities {
						caps[i] = string(c)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", in.Name, in.Version, in.ProtocolVersion,
						strings.Join(caps, ","), in.SHA256, in.Path)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "bin/plugins", "directory of plugin binaries")
	cmd.Flags().StringVar(&cfgPath, "config", "", "also list the config's plugin blocks (and use its plugin_dir unless --dir is given)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
