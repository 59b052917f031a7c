package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the account, pending changes, the last sync and per-entity counts",
		Args:  exactArgs(0, "status"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			w := a.io.out
			fmt.Fprintf(w, "store:     %s\n", c.Path())
			if st.Account != nil {
				fmt.Fprintf(w, "account:   %s at %s\n", st.Account.Username, st.Account.HubURL)
			} else {
				fmt.Fprintln(w, "account:   not logged in (synchub-device login URL USER)")
			}
			fmt.Fprintf(w, "device:    %s\n", st.DeviceID)
			if st.LastSync.IsZero() {
				fmt.Fprintln(w, "last sync: never")
			} else {
				fmt.Fprintf(w, "last sync: %s (%s ago)\n", st.LastSync.Local().Format("2006-01-02 15:04:05"), time.Since(st.LastSync).Round(time.Second))
			}
			fmt.Fprintf(w, "pending:   %d change(s)", st.Pending)
			if st.Pending > 0 {
				fmt.Fprintf(w, " (pending %d, sending %d, sent %d, error %d)", st.PendingByState["pending"], st.PendingByState["sending"],
					st.PendingByState["sent"], st.PendingByState["error"])
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "errors:    %d unresolved\n", st.Errors)
			fmt.Fprintf(w, "files:     %d known, %d downloaded, %d queued, %d partial, %d failed; %d upload(s) waiting\n",
				st.Files.Total, st.Files.Done, st.Files.Queued, st.Files.Partial, st.Files.Failed, st.Uploads)
			for _, s := range st.Sources {
				fmt.Fprintf(w, "\nsource %s", s.Name)
				if s.LastSync != nil {
					fmt.Fprintf(w, " (synced %s)", s.LastSync.Local().Format("2006-01-02 15:04:05"))
				}
				fmt.Fprintln(w)
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  ENTITY\tRECORDS\tPENDING")
				for _, e := range s.Entities {
					fmt.Fprintf(tw, "  %s\t%d\t%d\n", e.Name, e.Records, e.Pending)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func (a *app) logCmd() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show the sync log (newest first)",
		Args:  exactArgs(0, "log [-n N]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			entries, err := c.SyncLog(cmd.Context(), n)
			if err != nil {
				return err
			}
			for _, e := range entries {
				line := fmt.Sprintf("%s  %-6s %s", e.Started.Local().Format("2006-01-02 15:04:05"), e.Source, e.Summary)
				if e.Error != "" {
					line += "  error: " + oneLine(e.Error)
				}
				fmt.Fprintln(a.io.out, line)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 20, "number of lines")
	return cmd
}
