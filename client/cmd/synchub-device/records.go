package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/synchub/synchub/client"
)

// lsColumns is how many fields ls shows beside the id.
const lsColumns = 5

func (a *app) lsCmd() *cobra.Command {
	var (
		filter string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ls ENTITY",
		Short: "List the local records of an entity",
		Example: `  synchub-device ls account
  synchub-device ls account --filter "revenue gt 100000 and startswith(name, 'Con')"
  synchub-device ls contact --json`,
		Args: exactArgs(1, "ls ENTITY [--filter EXPR]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ent, err := c.Entity(cmd.Context(), a.source, args[0])
			if err != nil {
				return err
			}
			recs, err := c.List(cmd.Context(), a.source, args[0], filter)
			if err != nil {
				return err
			}
			if asJSON {
				return writeNDJSON(a.io.out, recs)
			}
			return writeTable(a.io.out, ent, recs)
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "OData $filter expression, e.g. \"name eq 'Contoso'\"")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON record per line")
	return cmd
}

func writeNDJSON(w io.Writer, recs []client.Record) error {
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(recordJSON(r)); err != nil {
			return err
		}
	}
	return nil
}

func recordJSON(r client.Record) map[string]any {
	m := map[string]any{"entity": r.Entity, "id": r.ID, "version": r.Version, "fields": r.Fields}
	if r.Pending != "" {
		m["pending"] = r.Pending
	}
	if r.Partition != "" {
		m["partition"] = r.Partition
	}
	return m
}

func writeTable(w io.Writer, ent client.EntitySchema, recs []client.Record) error {
	var cols []string
	for _, f := range ent.Fields {
		if len(cols) == lsColumns {
			break
		}
		if f.Type != "json" && f.Type != "text" && f.Name != ent.Key {
			cols = append(cols, f.Name)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "ID")
	for _, c := range cols {
		fmt.Fprint(tw, "\t"+strings.ToUpper(c))
	}
	fmt.Fprintln(tw, "\tPENDING")
	for _, r := range recs {
		fmt.Fprint(tw, r.ID)
		for _, c := range cols {
			fmt.Fprint(tw, "\t"+clip(formatValue(r.Fields[c]), 40))
		}
		fmt.Fprintln(tw, "\t"+r.Pending)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d %s record(s)\n", len(recs), ent.Name)
	return err
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any:
		if id, ok := x["id"].(string); ok {
			if e, _ := x["entity"].(string); e != "" {
				return e + ":" + id
			}
			return id
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (a *app) showCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show ENTITY ID",
		Short:   "Show one record",
		Example: `  synchub-device show account 6f1c0d2e-...`,
		Args:    exactArgs(2, "show ENTITY ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ent, err := c.Entity(cmd.Context(), a.source, args[0])
			if err != nil {
				return err
			}
			r, err := c.Get(cmd.Context(), a.source, args[0], args[1])
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.io.out).Encode(recordJSON(r))
			}
			tw := tabwriter.NewWriter(a.io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "id\t%s\n", r.ID)
			fmt.Fprintf(tw, "version\t%s\n", r.Version)
			if r.ModifiedAt != nil {
				fmt.Fprintf(tw, "modified_at\t%s\n", r.ModifiedAt.Format("2006-01-02 15:04:05Z07:00"))
			}
			if r.Pending != "" {
				fmt.Fprintf(tw, "pending\t%s (not yet applied by the hub)\n", r.Pending)
			}
			seen := map[string]bool{}
			for _, f := range ent.Fields {
				seen[f.Name] = true
				fmt.Fprintf(tw, "%s\t%s\n", f.Name, formatValue(r.Fields[f.Name]))
			}
			var extra []string
			for k := range r.Fields {
				if !seen[k] {
					extra = append(extra, k)
				}
			}
			sort.Strings(extra)
			for _, k := range extra {
				fmt.Fprintf(tw, "%s\t%s\n", k, formatValue(r.Fields[k]))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the record as JSON")
	return cmd
}

func (a *app) createCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create ENTITY field=value...",
		Short: "Create a record offline (sent on the next sync); prints its id",
		Long: `create stores a new record locally under a client-generated id and queues it
for the next sync. Values are read by the field's type: int, decimal, bool
(true/false), datetime (2024-05-01T10:00:00Z or 2024-05-01), date, lookup
(entity:id, or a bare id when the lookup has one target); "field=" is null.`,
		Example: `  synchub-device create account name="Contoso Ltd" revenue=120000.50 active=true
  synchub-device create contact fullname="Kim Ode" parentcustomerid=account:6f1c0d2e-...`,
		Args: minArgs(2, "create ENTITY field=value..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ent, err := c.Entity(cmd.Context(), a.source, args[0])
			if err != nil {
				return err
			}
			fields, err := client.ParseAssignments(ent, args[1:])
			if err != nil {
				return err
			}
			id, err := c.Create(cmd.Context(), a.source, args[0], fields)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.io.out, id)
			return nil
		},
	}
}

func (a *app) updateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "update ENTITY ID field=value...",
		Short:   "Change fields of a record offline (sent on the next sync)",
		Example: `  synchub-device update account 6f1c0d2e-... revenue=99000 active=false`,
		Args:    minArgs(3, "update ENTITY ID field=value..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ent, err := c.Entity(cmd.Context(), a.source, args[0])
			if err != nil {
				return err
			}
			fields, err := client.ParseAssignments(ent, args[2:])
			if err != nil {
				return err
			}
			if err := c.Update(cmd.Context(), a.source, args[0], args[1], fields); err != nil {
				return err
			}
			fmt.Fprintf(a.io.out, "updated %s %s (pending until the next sync)\n", args[0], args[1])
			return nil
		},
	}
}

func (a *app) deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ENTITY ID",
		Short: "Delete a record offline (sent on the next sync)",
		Args:  exactArgs(2, "delete ENTITY ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.Entity(cmd.Context(), a.source, args[0]); err != nil {
				return err
			}
			if err := c.Delete(cmd.Context(), a.source, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(a.io.out, "deleted %s %s (pending until the next sync)\n", args[0], args[1])
			return nil
		},
	}
}

func (a *app) pendingCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pending",
		Short: "List the change log: local edits the hub has not applied yet",
		Args:  exactArgs(0, "pending"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			chs, err := c.Changes(cmd.Context(), a.source)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MUTATION\tOP\tENTITY\tID\tSTATE\tFIELDS")
			for _, ch := range chs {
				state := ch.State
				if ch.Applied {
					state += " (applied)"
				}
				keys := make([]string, 0, len(ch.Fields))
				for k := range ch.Fields {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ch.MutationID, ch.Op, ch.Entity, ch.RecordID, state, strings.Join(keys, ","))
			}
			return tw.Flush()
		},
	}
}
