package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/synchub/synchub/client"
)

func (a *app) errorsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "errors",
		Short: "List sync errors: edits the hub did not apply (conflicts, rejections)",
		Args:  exactArgs(0, "errors"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			errs, err := c.Errors(cmd.Context(), a.source)
			if err != nil {
				return err
			}
			if len(errs) == 0 {
				fmt.Fprintln(a.io.out, "no sync errors")
				return nil
			}
			tw := tabwriter.NewWriter(a.io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tENTITY\tRECORD\tREASON\tFIELDS")
			for _, e := range errs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Entity, e.RecordID, clip(oneLine(e.Reason), 60), strings.Join(e.ConflictingFields, ","))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.io.out, "resolve with: synchub-device resolve ID keep-mine|take-server")
			return nil
		},
	}
}

func (a *app) resolveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resolve ID keep-mine|take-server",
		Short: "Resolve a sync error: send your edit again, or take the server's record",
		Example: `  synchub-device resolve 42 keep-mine
  synchub-device resolve 42 take-server`,
		Args: exactArgs(2, "resolve ID keep-mine|take-server"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res := strings.ReplaceAll(args[1], "-", "_")
			if res != client.ResolveKeepMine && res != client.ResolveTakeServer {
				return fmt.Errorf("resolution '%s': want keep-mine or take-server", args[1])
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.Resolve(cmd.Context(), a.source, args[0], res); err != nil {
				return err
			}
			fmt.Fprintf(a.io.out, "resolved %s: %s\n", args[0], args[1])
			return nil
		},
	}
}
