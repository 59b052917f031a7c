package main

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	crmemu "github.com/synchub/synchub/connectors/dynamicscrm/emulator"
)

// emulateCmd runs a back end's emulator standalone, for trying a connector
// or the hub without the real service.
func emulateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run a back-end emulator standalone (dynamicscrm, dropbox)",
	}
	cmd.AddCommand(emulateCRMCmd(g), emulateDropboxCmd(g))
	return cmd
}

func emulateCRMCmd(g *globals) *cobra.Command {
	var listen, clientID, secret, tenant string
	var records, budget int
	var seed int64
	cmd := &cobra.Command{
		Use:   "dynamicscrm",
		Short: "Emulate the Dataverse Web API (Dynamics 365 CRM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			emu := crmemu.New(crmemu.Options{Seed: seed, Accounts: records, ClientID: clientID, ClientSecret: secret,
				TenantID: tenant, RequestBudget: budget, Logger: g.logger("emulator.dynamicscrm")})
			base, err := emu.StartOn(listen)
			if err != nil {
				return err
			}
			defer emu.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "Dataverse emulator: %s\n  Web API:   %s\n  token URL: %s (client id %q, tenant %q)\n  admin:     %s/_emulator/stats\n",
				base, emu.APIURL(), emu.TokenURL(), clientID, tenant, base)
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "address to listen on")
	cmd.Flags().IntVar(&records, "records", 50, "number of seeded accounts (each with contacts and notes)")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of the generated data")
	cmd.Flags().StringVar(&clientID, "client-id", "synchub-dev", "accepted OAuth client id")
	cmd.Flags().StringVar(&secret, "client-secret", "synchub-dev", "accepted OAuth client secret")
	cmd.Flags().StringVar(&tenant, "tenant", "synchub-tenant", "tenant id in the token URL")
	cmd.Flags().IntVar(&budget, "request-budget", 0, "requests per 5 minutes before 429 (0 = unlimited)")
	return cmd
}
