package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/template"

	"github.com/spf13/cobra"

	dbxemu "github.com/synchub/synchub/connectors/dropbox/emulator"
	crmemu "github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/hub"
)

// devCmd runs the demo: the Dynamics CRM and Dropbox emulators on free local
// ports with seeded data, and the hub on SQLite under --data with the users
// alice, bob (owners of different accounts) and admin, each with its own
// name as password. Demo only.
func devCmd(g *globals) *cobra.Command {
	var listen, dataDir, pluginDir string
	var accounts int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the demo: emulators with seeded data and the hub on SQLite",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-format") {
				g.logFormat = "human"
			}
			if !cmd.Flags().Changed("log-level") {
				g.logLevel = "warn"
			}
			log := g.logger("synchub")
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if pluginDir == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				pluginDir = filepath.Join(filepath.Dir(exe), "plugins")
			}
			d, err := startDemo(ctx, demoOptions{Listen: listen, DataDir: dataDir, PluginDir: pluginDir, Accounts: accounts})
			if err != nil {
				return err
			}
			defer d.Close()
			cfg, err := config.Load(d.ConfigPath)
			if err != nil {
				return err
			}
			h, err := hub.Open(ctx, hub.Options{Config: cfg, Logger: log})
			if err != nil {
				return err
			}
			defer h.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "synchub demo: loading the emulators' data into the hub…")
			if err := d.Load(ctx, cfg, h); err != nil {
				return err
			}
			d.PrintWelcome(cmd.OutOrStdout(), cfg.Hub.Listen)
			return h.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address the hub listens on")
	cmd.Flags().StringVar(&dataDir, "data", "./data", "directory for the hub's database and the generated config")
	cmd.Flags().StringVar(&pluginDir, "plugin-dir", "", "plugin binaries (default: plugins/ beside the synchub binary)")
	cmd.Flags().IntVar(&accounts, "accounts", 2000, "number of seeded CRM accounts (each with contacts and a note)")
	return cmd
}

type demoOptions struct {
	Listen, DataDir, PluginDir string
	Accounts                   int
}

// demo is the running emulators and the config written for them.
type demo struct {
	CRM        *crmemu.Server
	Dropbox    *dbxemu.Server
	ConfigPath string
	Alice, Bob crmemu.User
}

// Load runs the first pull of every source and the first file listing
// before the demo says it is ready, so a device's first sync gets records
// and documents at once. Later changes come by the sources' intervals.
func (d *demo) Load(ctx context.Context, cfg *config.Config, h *hub.Hub) error {
	for _, src := range cfg.Sources {
		if len(src.Entities) == 0 {
			continue
		}
		if err := h.Puller().PullSource(ctx, src.Name, nil, false); err != nil {
			return fmt.Errorf("demo: first pull of %s: %w", src.Name, err)
		}
	}
	for _, src := range h.Files().ListingSources(ctx) {
		if _, err := h.Files().SyncSource(ctx, src, false); err != nil {
			return fmt.Errorf("demo: first file listing of %s: %w", src, err)
		}
	}
	return nil
}

func (d *demo) Close() {
	d.Dropbox.Close()
	d.CRM.Close()
}

func startDemo(_ context.Context, o demoOptions) (*demo, error) {
	crm := crmemu.New(crmemu.Options{Seed: 1, Accounts: o.Accounts, Users: 4})
	if _, err := crm.Start(); err != nil {
		return nil, err
	}
	var folders []dbxemu.RecordFolder
	for _, id := range crm.IDs("accounts") {
		if row, ok := crm.Get("accounts", id); ok {
			name, _ := row["name"].(string)
			folders = append(folders, dbxemu.RecordFolder{Entity: "account", Name: name, ID: id})
		}
		if len(folders) == 200 { // documents for the first 200 accounts
			break
		}
	}
	dbx := dbxemu.New(dbxemu.Options{Seed: 1, Records: folders})
	if _, err := dbx.Start(); err != nil {
		crm.Close()
		return nil, err
	}
	users := crm.Users()
	d := &demo{CRM: crm, Dropbox: dbx, Alice: users[0], Bob: users[1]}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		d.Close()
		return nil, fmt.Errorf("create %s: %w", o.DataDir, err)
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.ConfigPath = filepath.Join(abs, "dev.hcl")
	f, err := os.Create(d.ConfigPath)
	if err != nil {
		d.Close()
		return nil, err
	}
	err = devConfig.Execute(f, map[string]any{"Listen": o.Listen, "DataDir": abs, "PluginDir": o.PluginDir,
		"CRM": crm.URL(), "CRMToken": crm.TokenURL(), "Dropbox": dbx.URL(), "Alice": d.Alice.SystemUserID, "Bob": d.Bob.SystemUserID})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("write %s: %w", d.ConfigPath, err)
	}
	return d, nil
}

// devConfig is the demo's config: every line is what an admin would write
// for the real services, with the emulators' addresses.
var devConfig = template.Must(template.New("dev.hcl").Parse(`# Generated by "synchub dev" for the emulators it started; rewritten at every start.
hub {
  listen     = "{{.Listen}}"
  data_dir   = "{{.DataDir}}"
  plugin_dir = "{{.PluginDir}}"
  checkpoint_key = "synchub-dev-checkpoint-key-not-for-production"
}

source "crm" {
  plugin = "dynamicscrm"
  config = {
    url           = "{{.CRM}}"
    token_url     = "{{.CRMToken}}"
    tenant_id     = "synchub-tenant"
    client_id     = "synchub-dev"
    client_secret = "synchub-dev"
  }
  interval      = "30s"
  max_staleness = "10s"

  entity "account" {
    fields       = ["name", "accountnumber", "telephone1", "emailaddress1", "address1_city", "revenue", "ownerid"]
    partition_by = "owner:ownerid"
    conflict     = "merge"
    files {
      mode     = "eager"
      suffixes = [".pdf", ".txt", ".docx", ".xlsx", ".png", ".jpg"]
      max_size = "10MiB"
      quota    = "200MiB"
    }
  }
  entity "contact" {
    fields       = ["firstname", "lastname", "emailaddress1", "telephone1", "jobtitle", "parentcustomerid", "ownerid"]
    partition_by = "owner:ownerid"
    parents      = ["account"]
  }
}

# Documents of the accounts in Dropbox, under /synchub/account/<name>_<id>/:
# they reach devices beside the CRM's own notes.
source "docs" {
  plugin    = "dropbox"
  attach_to = "crm"
  config = {
    access_token = "synchub-dev"
    api_url      = "{{.Dropbox}}"
    content_url  = "{{.Dropbox}}"
  }
  interval = "30s"
}

user "alice" {
  password = "alice"
  identity "crm" { id = "{{.Alice}}" }
}
user "bob" {
  password = "bob"
  identity "crm" { id = "{{.Bob}}" }
}
user "admin" {
  password = "admin"
  role     = "admin"
}
`))

// PrintWelcome tells the user where everything is and what to try.
func (d *demo) PrintWelcome(w io.Writer, listen string) {
	hubURL := "http://" + listen
	fmt.Fprintf(w, `synchub demo is running.

  hub:               %[1]s   (users alice/alice, bob/bob, admin/admin)
  Dynamics CRM:      %[2]s   (emulator; server-side view: %[2]s/_emulator/stats)
  Dropbox:           %[3]s
  config:            %[4]s

Try, in another terminal:
  bin/synchub-device --db /tmp/alice.db login %[1]s alice     (password: alice)
  bin/synchub-device --db /tmp/alice.db sync
  bin/synchub-device --db /tmp/alice.db ls account
  bin/synchub-device --db /tmp/alice.db update account <ID> telephone1=555-0100
  bin/synchub-device --db /tmp/alice.db sync
  curl -s %[2]s/_emulator/accounts/<ID>          (the change, on the server)

Stop with Ctrl-C.
`, hubURL, d.CRM.URL(), d.Dropbox.URL(), d.ConfigPath)
}
