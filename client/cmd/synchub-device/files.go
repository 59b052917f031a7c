package main

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) filesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "files ENTITY ID",
		Short: "List the files attached to a record",
		Args:  exactArgs(2, "files ENTITY ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.Entity(cmd.Context(), a.source, args[0]); err != nil {
				return err
			}
			files, err := c.Files(cmd.Context(), a.source, args[0], args[1])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSIZE\tMODE\tSTATE")
			for _, f := range files {
				mode := "on demand"
				if f.Eager {
					mode = "eager"
				}
				state := f.State
				switch state {
				case "":
					state = "remote"
				case "partial":
					state = fmt.Sprintf("partial %s", humanBytes(f.Downloaded))
				case "error":
					state = "error: " + clip(oneLine(f.Error), 50)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID, f.Name, humanBytes(f.Size), mode, state)
			}
			return tw.Flush()
		},
	}
}

func (a *app) getFileCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get-file ID",
		Short: "Write a file's content (fetched now unless downloaded already) to -o PATH, its own name, or - for stdout",
		Example: `  synchub-device get-file 0AB12 -o contract.pdf
  synchub-device get-file 0AB12 -o - | less`,
		Args: exactArgs(1, "get-file ID [-o PATH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if out == "-" {
				return c.GetFile(cmd.Context(), args[0], a.io.out)
			}
			if out == "" {
				fi, err := c.File(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				out = filepath.Base(filepath.Clean("/" + fi.Name))
				if out == "/" || out == "." {
					out = args[0]
				}
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), ".get-file-*")
			if err != nil {
				return fmt.Errorf("get-file: %w", err)
			}
			defer os.Remove(tmp.Name())
			err = c.GetFile(cmd.Context(), args[0], tmp)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return fmt.Errorf("get-file: %w", err)
			}
			fmt.Fprintf(a.io.err, "wrote %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write the content (- for stdout)")
	return cmd
}

func (a *app) attachCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "attach ENTITY ID PATH",
		Short:   "Attach a file to a record (uploaded on the next sync)",
		Example: `  synchub-device attach account 6f1c0d2e-... ./visit-report.pdf`,
		Args:    exactArgs(3, "attach ENTITY ID PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			f, err := os.Open(args[2])
			if err != nil {
				return fmt.Errorf("attach: %w", err)
			}
			defer f.Close()
			var r io.Reader = f
			if fi, err := f.Stat(); err == nil && fi.IsDir() {
				return errors.New("attach: " + args[2] + " is a directory")
			}
			name := filepath.Base(args[2])
			if err := c.AttachFile(cmd.Context(), a.source, args[0], args[1], name, mime.TypeByExtension(filepath.Ext(name)), r); err != nil {
				return err
			}
			fmt.Fprintf(a.io.out, "attached %s to %s %s (uploaded on the next sync)\n", name, args[0], args[1])
			return nil
		},
	}
}
