package main

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	dbxemu "github.com/synchub/synchub/connectors/dropbox/emulator"
	crmemu "github.com/synchub/synchub/connectors/dynamicscrm/emulator"
)

func emulateDropboxCmd(g *globals) *cobra.Command {
	var listen, token string
	var records, budget int
	var seed int64
	cmd := &cobra.Command{
		Use:   "dropbox",
		Short: "Emulate the Dropbox API v2 (files), seeded with a folder per CRM account",
		Long: `The seeded tree follows <root>/account/<account name>_<account id>/<file>
for the same accounts "synchub emulate dynamicscrm" generates with the same
--seed and --records, so the two emulators can serve one demo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			emu := dbxemu.New(dbxemu.Options{Seed: seed, AccessToken: token, RequestBudget: budget,
				Records: accountFolders(seed, records), Logger: g.logger("emulator.dropbox")})
			base, err := emu.StartOn(listen)
			if err != nil {
				return err
			}
			defer emu.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "Dropbox emulator: %s (RPC and content routes)\n  access token: %q\n  token URL:    %s\n",
				base, token, emu.TokenURL())
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8082", "address to listen on")
	cmd.Flags().IntVar(&records, "records", 50, "number of account folders (the CRM emulator's accounts for the same seed)")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of the generated data")
	cmd.Flags().StringVar(&token, "access-token", "synchub-dev", "accepted access token")
	cmd.Flags().IntVar(&budget, "request-budget", 0, "requests per minute before 429 (0 = unlimited)")
	return cmd
}

// accountFolders lists the accounts the CRM emulator seeds for seed and n,
// as Dropbox record folders.
func accountFolders(seed int64, n int) []dbxemu.RecordFolder {
	crm := crmemu.New(crmemu.Options{Seed: seed, Accounts: n, ContactsPerAccount: -1, NotesPerAccount: -1})
	var out []dbxemu.RecordFolder
	for _, id := range crm.IDs("accounts") {
		row, ok := crm.Get("accounts", id)
		if !ok {
			continue
		}
		name, _ := row["name"].(string)
		out = append(out, dbxemu.RecordFolder{Entity: "account", Name: name, ID: id})
	}
	return out
}
